import Foundation
import ServerTestSupport
import Synchronization
import Testing
import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

@Suite("PostgreSQL database URL")
struct PostgresLocationTests {
    @Test func aFullURLIsReadWithItsSettings() throws {
        let location = try PostgresLocation.parse(
            "postgres://vigil@db.example.com:6543/cameras?sslmode=require&pool=32&timeout=2.5&connect_timeout=20"
                + "&passwordFile=/run/pw")
        #expect(location.host == "db.example.com")
        #expect(location.port == 6543)
        #expect(location.user == "vigil")
        #expect(location.database == "cameras")
        #expect(location.tls == .require)
        #expect(location.poolSize == 32)
        #expect(location.queryTimeout == .milliseconds(2500))
        #expect(location.connectionTimeout == .seconds(20))
        #expect(location.passwordFile == "/run/pw")
        #expect(location.description == "postgres://vigil@db.example.com:6543/cameras")
        let defaults = try PostgresLocation.parse("postgresql://vigil@localhost/cameras")
        #expect(defaults.port == 5432)
        #expect(defaults.tls == .prefer)
        #expect(defaults.poolSize == 10)
        #expect(defaults.connectionTimeout == defaults.queryTimeout)
    }

    @Test(arguments: [
        ("postgres://vigil:hunter2@db/cameras", "password"),
        ("postgres://db:5432/cameras", "no user"),
        ("postgres://vigil@db:5432/", "no database"),
        ("mysql://vigil@db/cameras", "postgres://"),
        ("postgres://vigil@db/cameras?pool=0", "pool"),
        ("postgres://vigil@db/cameras?timeout=-1", "timeout"),
        ("postgres://vigil@db/cameras?connect_timeout=0", "connect_timeout must be"),
        ("postgres://vigil@db/cameras?sslmode=maybe", "sslmode"),
        ("postgres://vigil@db/cameras?passwordFile=pw.txt", "absolute"),
        ("postgres://vigil@db/cameras?colour=blue", "unknown setting 'colour'"),
    ])
    func aBadURLIsRefusedWithWhatIsWrong(url: String, problem: String) {
        let error = #expect(throws: VigilError.self) { try PostgresLocation.parse(url) }
        #expect(error?.code == .badConfiguration)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("hunter2") == false)
    }

    @Test func thePasswordComesFromTheEnvironmentOrAFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("password")
        try Data("from-file\n".utf8).write(to: file)
        var location = try PostgresLocation.parse("postgres://vigil@db/cameras")
        #expect(try location.password(environment: [:]) == nil)
        #expect(try location.password(environment: ["PGPASSWORD": "from-env"]) == "from-env")
        #expect(try location.password(environment: ["VIGIL_DATABASE_PASSWORD_FILE": file.path]) == "from-file")
        location.passwordFile = file.path
        #expect(try location.password(environment: [:]) == "from-file")
        location.passwordFile = folder.url.appendingPathComponent("missing").path
        #expect(throws: VigilError.self) { try location.password(environment: [:]) }
    }
}

@Suite("PostgreSQL database", .enabled(if: PostgresServer.canRun, "\(PostgresServer.skipReason)"))
struct PostgresDatabaseTests {
    /// What a failed start reports, and how long it took to report it: well under the minute postgres-nio's
    /// pool takes to give up by itself (or never, for a server that does not answer), even on a machine the
    /// other suites keep busy.
    private func failure(
        _ url: String, environment: [String: String]
    ) async throws -> (VigilError?, Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: VigilError.self) {
            try await PostgresServer.withClient(
                try PostgresLocation.parse(url), environment: environment,
                schemas: [PostgresMetadataStore.schema], logger: .test
            ) { _ in }
        }
        return (error, clock.now - start)
    }

    @Test func aWrongPasswordFailsAtOnceWithItsOwnCode() async throws {
        let server = try await PostgresServer.shared()
        let (error, took) = try await failure(
            server.url(database: "postgres"), environment: ["PGPASSWORD": "not-the-password"])
        #expect(error?.code == .databaseAuthFailed)
        #expect(error?.message.contains("PGPASSWORD") == true)
        #expect(error?.message.contains("not-the-password") == false)
        #expect(took < .seconds(40))
    }

    @Test func aMissingDatabaseFailsAtOnceWithHowToCreateIt() async throws {
        let server = try await PostgresServer.shared()
        let (error, took) = try await failure(server.url(database: "no_such_database"), environment: server.environment)
        #expect(error?.code == .databaseNotFound)
        #expect(error?.message.contains("createdb") == true)
        #expect(took < .seconds(40))
    }

    @Test func aServerThatIsNotThereIsAnOutage() async throws {
        let port = try LocalPorts.free(1)[0]
        let (error, took) = try await failure(
            "postgres://vigil@127.0.0.1:\(port)/cameras?sslmode=disable&timeout=3", environment: [:])
        #expect(error?.code == .databaseUnavailable)
        #expect(error.map(Outage.isOutage) == true)
        #expect(took < .seconds(40))
    }

    @Test func aServerThatNeverAnswersFailsAtTheDeadline() async throws {
        // A socket that takes connections into its backlog and never says a word: a hung server or a black hole.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(listener, $0, length) == 0)
                try #require(listen(listener, 16) == 0)
                try #require(getsockname(listener, $0, &length) == 0)
            }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let (error, took) = try await failure(
            "postgres://vigil@127.0.0.1:\(port)/cameras?sslmode=disable&timeout=1", environment: [:])
        #expect(error?.code == .databaseUnavailable)
        #expect(error?.message.contains("1 s") == true, "\(error?.message ?? "")")
        #expect(took < .seconds(40))
    }

    @Test func twoProcessesMigratingAtOnceApplyEachMigrationOnce() async throws {
        let server = try await PostgresServer.shared()
        let location = try PostgresLocation.parse(server.url(database: try await server.makeDatabase()))
        // A migration that fails if it runs twice (CREATE TABLE without IF NOT EXISTS, a unique insert).
        let schema = PostgresSchema(
            component: "race",
            migrations: [
                ["CREATE TABLE race_log(step integer PRIMARY KEY)", "INSERT INTO race_log VALUES (1)"],
                ["INSERT INTO race_log VALUES (2)"],
            ])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await PostgresServer.withClient(
                        location, environment: server.environment, schemas: [schema], logger: .test
                    ) { _ in }
                }
            }
            try await group.waitForAll()
        }
        let steps = try await server.psql(
            "SELECT string_agg(step::text, ',' ORDER BY step) FROM race_log",
            database: location.database)
        #expect(steps == "1,2")
        let version = try await PostgresServer.withClient(
            location, environment: server.environment, logger: .test
        ) { database in
            try await PostgresSchema.version(of: "race", in: database)
        }
        #expect(version == 2)
    }

    @Test func aDatabaseFromThePreviousVersionIsMigratedKeepingItsRows() async throws {
        let server = try await PostgresServer.shared()
        let location = try PostgresLocation.parse(server.url(database: try await server.makeDatabase()))
        let first = ["CREATE TABLE cameras(name text PRIMARY KEY)"]
        let second = ["ALTER TABLE cameras ADD COLUMN site text NOT NULL DEFAULT 'unknown'"]
        let old = PostgresSchema(component: "cameras", migrations: [first])
        let new = PostgresSchema(component: "cameras", migrations: [first, second])
        try await PostgresServer.withClient(location, environment: server.environment, schemas: [old], logger: .test) {
            _ in
        }
        try await server.psql("INSERT INTO cameras VALUES ('porch')", database: location.database)
        try await PostgresServer.withClient(location, environment: server.environment, schemas: [new], logger: .test) {
            _ in
        }
        #expect(
            try await server.psql("SELECT name || '@' || site FROM cameras", database: location.database)
                == "porch@unknown")

        // The old Vigil now meets a schema it does not know, and refuses to touch it.
        let error = await #expect(throws: VigilError.self) {
            try await PostgresServer.withClient(
                location, environment: server.environment, schemas: [old], logger: .test
            ) { _ in }
        }
        #expect(error?.code == .schemaTooNew)
        #expect(error?.message.contains("upgrade") == true)
    }

    @Test func aServerKilledMidCommitLosesNothingCommittedAndKeepsNothingHalfDone() async throws {
        // Its own server: the kill must not hit the other tests' shared one.
        let server = try PostgresServer()
        try await server.start()
        let location = try PostgresLocation.parse(
            server.url(database: try await server.makeDatabase()))
        let landed: [String] = try await PostgresServer.withClient(
            location, environment: server.environment, schemas: [PostgresMetadataStore.schema], logger: .test
        ) { database in
            let store = PostgresMetadataStore(database: database)
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            // Writers keep committing while the server dies under them: each commit either lands whole or
            // fails as an outage.
            let count = Counter()
            let landed = try await withThrowingTaskGroup(of: [String].self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        var mine: [String] = []
                        for index in 0..<10_000 {
                            do {
                                let head = try await store.branch("master", in: "images")?.head
                                let next = makeCommit("w\(writer)-\(index)", parent: head)
                                if try await store.appendCommit(next, expectedHead: head) {
                                    mine.append(next.id)
                                    count.add()
                                }
                            } catch let error as VigilError {
                                #expect(error.code == .databaseUnavailable, "\(error)")
                                return mine
                            }
                        }
                        return mine
                    }
                }
                // Kill it mid-stream: once some commits have landed (however busy the machine is).
                let deadline = ContinuousClock.now + .seconds(60)
                while count.value < 20, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                server.kill()
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(!landed.isEmpty)
            return landed
        }
        try await server.start()
        try await PostgresServer.withClient(location, environment: server.environment, logger: .test) { database in
            let store = PostgresMetadataStore(database: database)
            let commits = try await store.allCommits(in: "images")
            for id in landed { #expect(try await store.commit(id: id) != nil, "commit \(id) was lost") }
            // The head names a recorded commit, and the chain from it covers every recorded commit: no commit
            // without its head move, no head move without its commit.
            var cursor = try await store.branch("master", in: "images")?.head
            var chain = 0
            while let id = cursor {
                chain += 1
                cursor = try #require(try await store.commit(id: id)).parent
            }
            #expect(chain == commits.count)
            #expect(chain > 0)
            // And the store takes commits again.
            let head = try await store.branch("master", in: "images")?.head
            #expect(try await store.appendCommit(makeCommit("after", parent: head), expectedHead: head))
        }
    }
}

private final class Counter: Sendable {
    private let count = Atomic<Int>(0)

    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

private func makeCommit(_ id: String, parent: String?) -> CommitInfo {
    CommitInfo(
        id: id, repo: "images", branch: "master", parent: parent,
        tree: TreeRoot(hash: BlobHash(of: Data(id.utf8)), size: 10, files: 1), author: "test", message: id,
        provenance: Provenance(inputs: [], origin: nil), started: Date(), finished: Date())
}
