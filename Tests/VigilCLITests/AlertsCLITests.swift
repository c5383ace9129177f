import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    @Suite("vigil notify, alerts and alert-sink as processes", .serialized)
    struct AlertsCLITests {
        /// A running `vigil alert-sink` on a free loopback port, and its journal.
        struct Sink {
            let process: Process
            let url: String
            let journal: URL
            let errors: Pipe

            /// The idempotency keys it stored, in order (one journal line each). A line the sink is still
            /// appending (no newline yet) is left for the next read rather than parsed half-written.
            func keys() throws -> [String] {
                let text = (try? String(contentsOf: journal, encoding: .utf8)) ?? ""
                let complete =
                    text.hasSuffix("\n") ? Substring(text) : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
                return try complete.split(separator: "\n").map { line in
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    return object?["idempotencyKey"] as? String ?? ""
                }
            }

            /// Stops it (SIGTERM) and returns its closing summary (`40 alerts received, 2 duplicates dropped, …`).
            @discardableResult
            func stop() -> String {
                guard process.isRunning else { return "" }
                process.terminate()
                let rest = errors.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return String(decoding: rest, as: UTF8.self)
            }
        }

        static func startSink(_ vigil: VigilProcess, root: URL, secret: URL, extra: [String] = []) throws -> Sink {
            let journal = root.appendingPathComponent("sink.jsonl")
            let process = Process()
            process.executableURL = VigilProcess.binary
            process.arguments =
                ["alert-sink", "--port", "0", "--secret-file", secret.path, "--journal", journal.path] + extra
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // It says where it listens on its first line of standard error.
            var text = ""
            while !text.contains("\n") {
                let chunk = errors.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            guard let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+/v1/alerts"#, options: .regularExpression)
            else {
                process.terminate()
                throw CLIFailure(arguments: ["alert-sink"], result: .init(status: -1, output: "", error: text))
            }
            return Sink(process: process, url: String(text[range]), journal: journal, errors: errors)
        }

        /// A data folder under `root` holding `count` threat records in the repo `threats`, and the file with the
        /// alert API's shared secret (`secret`).
        static func withThreats(
            in root: URL, count: Int, secret: String = "a-shared-secret-for-the-cli-test"
        ) async throws -> (VigilProcess, secret: URL) {
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            let file = root.appendingPathComponent("secret")
            try Data(secret.utf8).write(to: file)
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "threats"])
            let threats = root.appendingPathComponent("threats")
            try writeThreats(to: threats, count: count)
            #expect(try await vigil.run(["put", "threats", threats.path]).status == 0)
            return (vigil, file)
        }

        /// `count` threat records (and their images) in the layout the threats stage writes.
        static func writeThreats(to folder: URL, count: Int) throws {
            for index in 0..<count {
                let device = "cam\(index % 3)"
                let time = 1_763_800_000 + index * 60
                let name = "\(device)-\(time).jpg"
                let directory = folder.appendingPathComponent(device)
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                let image = Data("image \(index)".utf8)
                try image.write(to: directory.appendingPathComponent(name))
                let iso = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(time)))
                let sha = (0..<32).map { _ in String(format: "%02x", index % 256) }.joined()
                let record = """
                    {"customer": "acme", "customerName": "Acme Storage Ltd", "device": "\(device)", "time": \(time),
                     "isoTime": "\(iso)", "localTime": "\(iso)",
                     "labels": [{"label": "person", "confidence": 0.9, "count": 1, "minConfidence": 0.6}],
                     "image": {"name": "\(name)", "width": 640, "height": 480, "bytes": \(image.count), "sha256": "\(sha)",
                               "address": "validate@00:/valid/\(name)"},
                     "imagePath": "/\(device)/\(name)", "detection": "detect@00:/\(device)/\(name).json",
                     "rules": {"commit": "r", "tree": "t"}, "model": {"name": "yolov4-tiny", "sha256": "m", "labels": 80},
                     "contacts": [{"name": "Ana Lee", "email": "ana@acme.example"}, {"name": "Bo Chen", "phone": "+1 555"}],
                     "acknowledgeWithin": 600}
                    """
                try Data(record.utf8).write(to: directory.appendingPathComponent(name + ".json"))
            }
        }

        struct Alert: Decodable {
            var id: String
            var state: String
            var device: String
        }
        struct Verdict: Decodable {
            struct Earlier: Decodable { var verdict: String }
            var verdict: String
            var label: String?
            var note: String?
            var earlier: [Earlier]
        }
        struct Audit: Decodable {
            var action: String
            var target: String?
        }
        struct Stats: Decodable {
            struct Rates: Decodable {
                struct Tally: Decodable {
                    var alerts: Int
                    var judged: Int
                    var confirmed: Int
                    var falseAlarms: Int
                }
                var total: Tally
                var byDevice: [String: Tally]
            }
            var verdicts: Rates
        }

        @Test func killingTheNotifierMidDeliveryNeitherLosesNorDuplicatesAnAlert() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, secret) = try await Self.withThreats(
                in: root, count: 40, secret: "a-shared-secret-for-the-cli-test\n")
            // A slow API (300 ms an alert, stored after the wait), so a kill lands while requests are in flight.
            let sink = try Self.startSink(
                vigil, root: root, secret: secret, extra: ["--delay-ms", "300", "--delay-next", "1000"])
            defer { sink.stop() }
            // A killed notifier's claims on what it had in flight run out after the lease (3 s here); then the
            // next notifier sends those again.
            let notify = [
                "notify", "--alert-url", sink.url, "--alert-secret-file", secret.path, "--alert-concurrency", "2",
                "--alert-timeout", "2", "--alert-claim-lease", "3",
            ]

            for round in 1...3 {
                let before = try sink.keys().count
                let notifier = try vigil.start(notify)
                #expect(
                    try await eventually(30) { try sink.keys().count >= before + 4 },
                    "round \(round): nothing delivered")
                // The keys are stored just before the answers: the notifier has half the API's delay to send the
                // next two, which the sink then holds when the kill lands (on a loaded machine too).
                usleep(150_000)
                kill(notifier.processIdentifier, SIGKILL)
                try await waitForExit(of: notifier)
            }
            let finish = try await vigil.run(notify + ["--until-idle"])
            #expect(finish.status == 0, "\(finish.error)")
            #expect(finish.output.contains("40 alerts: 40 open"))
            // Requests the killed notifiers left in flight finish on the sink's side too.
            #expect(try await eventually(5) { try sink.keys().count == 40 })
            let keys = try sink.keys()
            #expect(keys.count == 40)
            // The resends of what the killed notifiers had in flight were recognised by their keys.
            // (Three kills with two requests in flight each: up to six resends, each dropped as a duplicate.)
            let summary = sink.stop()
            #expect(summary.contains("40 alerts received"))
            let duplicates = summary.firstMatch(of: /([0-9]+) duplicates dropped/).flatMap { Int($0.1) } ?? 0
            #expect((1...6).contains(duplicates), "\(summary)")
            #expect(Set(keys).count == 40, "an idempotency key was stored twice")

            let alerts = try await vigil.json([Alert].self, ["alerts", "list"])
            #expect(alerts.count == 40 && alerts.allSatisfy { $0.state == "open" })
            #expect(Set(alerts.map { "\($0.id)-0" }) == Set(keys))
            let shown = try await vigil.run(["alerts", "show", String(alerts[0].id.prefix(8))])
            #expect(shown.status == 0)
            #expect(shown.output.contains("Ana Lee") && shown.output.contains("delivered"))
        }

        /// A running notifier polls nothing: what another process changes in the alerts (a retry of the dead
        /// ones) reaches it through the data folder's change feed, which stays quiet about the notifier's own
        /// writes.
        @Test func aRetryFromAnotherProcessReachesARunningNotifier() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, secret) = try await Self.withThreats(in: root, count: 2)
            // The API refuses both (400): they end dead, and the notifier waits with nothing due.
            let sink = try Self.startSink(
                vigil, root: root, secret: secret, extra: ["--fail-next", "2", "--fail-status", "400"])
            defer { sink.stop() }
            let log = root.appendingPathComponent("notify.log")
            let notifier = try vigil.start(
                ["notify", "--alert-url", sink.url, "--alert-secret-file", secret.path], errorLog: log)
            defer {
                if notifier.isRunning {
                    notifier.terminate()
                    notifier.waitUntilExit()
                }
            }
            let died = try await eventually(60) {
                try await vigil.json([Alert].self, ["alerts", "list", "--state", "dead"]).count == 2
            }
            #expect(died, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            try await Task.sleep(for: .seconds(1))
            #expect(try sink.keys().isEmpty)
            let retried = try await vigil.run(["alerts", "retry", "--all-dead"])
            #expect(retried.status == 0, "\(retried.error)")
            let delivered = try await eventually(15) { try sink.keys().count == 2 }
            #expect(delivered, "the running notifier never heard of the retry")
            #expect(notifier.isRunning)
        }

        @Test func alertsCommandsSayWhatIsWrong() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let absent = try await VigilProcess(home: root.appendingPathComponent("home")).run(["alerts", "list"])
            #expect(absent.error.contains("[not-initialized]"))
            let (vigil, secret) = try await Self.withThreats(in: root, count: 2)

            let unknown = try await vigil.run(["alerts", "show", "abcdef"])
            #expect(unknown.status == 1)
            #expect(
                unknown.error
                    == "vigil: error: no alert 'abcdef'; `vigil alerts list` shows the alerts there are [alert-not-found]\n"
            )
            let noSecret = try await vigil.run([
                "notify", "--alert-url", "http://127.0.0.1:9/v1/alerts", "--until-idle",
            ])
            #expect(noSecret.status == 1 && noSecret.error.contains("[bad-alert-config]"))
            let badURL = try await vigil.run(["notify", "--alert-url", "ftp://x", "--alert-secret-file", secret.path])
            #expect(badURL.status == 1 && badURL.error.contains("must be http(s)://"))

            // The API refuses everything (400): both alerts end on the dead-letter list, and a retry re-queues them.
            let sink = try Self.startSink(
                vigil, root: root, secret: secret, extra: ["--fail-next", "2", "--fail-status", "400"])
            defer { sink.stop() }
            let notify = ["notify", "--alert-url", sink.url, "--alert-secret-file", secret.path, "--until-idle"]
            #expect(try await vigil.run(notify).output.contains("2 alerts: 2 dead"))
            let dead = try await vigil.json([Alert].self, ["alerts", "list", "--state", "dead"])
            #expect(dead.count == 2)
            let retried = try await vigil.run(["alerts", "retry", "--all-dead"])
            #expect(retried.status == 0 && retried.output.components(separatedBy: "retrying").count == 3)
            #expect(try await vigil.run(notify).output.contains("2 alerts: 2 open"))
            #expect(try sink.keys().count == 2)
            let notDead = try await vigil.run(["alerts", "retry", dead[0].id])
            #expect(notDead.status == 1 && notDead.error.contains("[bad-alert-state]"))
            let ack = try await vigil.run(["alerts", "ack", dead[0].id, "--by", "Ana Lee"])
            #expect(ack.status == 0 && ack.output.contains("acknowledged"))
            #expect(
                try await vigil.json([Alert].self, ["alerts", "list", "--state", "acknowledged"]).map(\.id) == [
                    dead[0].id
                ])
            let twice = try await vigil.run(["alerts", "ack", dead[0].id])
            #expect(twice.status == 1 && twice.error.contains("acknowledged already"))
            let badState = try await vigil.run(["alerts", "list", "--state", "lost"])
            #expect(badState.status == 64 && badState.error.contains("--state must be one of"))

            // A verdict, then a change of mind: the latest stands and keeps the earlier; both are audited.
            let judged = try await vigil.run(
                ["alerts", "verdict", String(dead[0].id.prefix(8)), "--false-alarm", "--label", "shadow"])
            #expect(judged.status == 0 && judged.output.contains("false-alarm (shadow)"), "\(judged.error)")
            let changed = try await vigil.json(
                Verdict.self, ["alerts", "verdict", dead[0].id, "--confirmed", "--note", "a courier", "--json"])
            #expect(changed.verdict == "confirmed" && changed.earlier.map(\.verdict) == ["false-alarm"])
            let standing = try await vigil.json(Verdict.self, ["alerts", "verdict", dead[0].id, "--json"])
            #expect(standing.verdict == "confirmed" && standing.note == "a courier" && standing.label == nil)
            let actions = try await vigil.json([Audit].self, ["audit"]).filter { $0.target == "alert \(dead[0].id)" }
            #expect(Set(actions.map(\.action)) == ["VERDICT false-alarm", "VERDICT confirmed"])
            let unjudged = try await vigil.run(["alerts", "verdict", dead[1].id])
            #expect(unjudged.status == 1 && unjudged.error.contains("nobody has given a verdict"))
            for bad in [["--confirmed", "--false-alarm"], ["--false-alarm", "--label", " "], ["--label", "cat"]] {
                let refused = try await vigil.run(["alerts", "verdict", dead[1].id] + bad)
                #expect(refused.status == 64, "\(bad): \(refused.error)")
            }

            // `vigil stats` sets the verdicts against the alerts the analytics stage counted.
            let stats = root.appendingPathComponent("stats")
            try FileManager.default.createDirectory(at: stats, withIntermediateDirectories: true)
            let byDevice = Dictionary(dead.map { ($0.device, 1) }, uniquingKeysWith: +)
            let counts: [String: Any] = [
                "alerts": [
                    "total": 2, "byDevice": byDevice, "byCustomer": [:], "byDay": [:], "byHour": [:], "byLabel": [:],
                ],
                "invalid": ["total": 0, "byDevice": [:], "byReason": [:], "byDeviceAndReason": [:]], "sources": [],
            ]
            try JSONSerialization.data(withJSONObject: counts).write(to: stats.appendingPathComponent("counts.json"))
            #expect(try await vigil.run(["repo", "create", "stats"]).status == 0)
            #expect(try await vigil.run(["put", "stats", stats.path]).status == 0)
            let rates = try await vigil.json(Stats.self, ["stats", "--json"]).verdicts
            #expect(rates.total.alerts == 2 && rates.total.judged == 1 && rates.total.confirmed == 1)
            #expect(rates.total.falseAlarms == 0)
            #expect(rates.byDevice[dead[0].device]?.judged == 1)
            let printed = try await vigil.run(["stats"])
            #expect(
                printed.status == 0 && printed.output.contains("Verdicts: 1 of 2 alerts judged"), "\(printed.error)")
        }
    }
}
