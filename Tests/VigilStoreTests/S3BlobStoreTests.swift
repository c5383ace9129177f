import Foundation
import ServerTestSupport
import Testing

@testable import VigilStore

/// What the conformance suite cannot say about `S3BlobStore`: its key layout, freshening by self-copy,
/// ranges, multipart clean-up, encryption, and a clear error for each way the service can be unusable.
/// All against a real SeaweedFS (see `SeaweedServer`).
@Suite("S3 backend", .enabled(if: SeaweedServer.canRun, Comment(rawValue: SeaweedServer.skipReason)))
struct S3BlobStoreTests {
    func makeStore(prefix: String = "tenant/a") async throws -> S3BlobStore {
        let server = try await SeaweedServer.shared()
        return S3BlobStore(configuration: try await server.makeBucket(prefix: prefix, logger: .test), logger: .test)
    }

    @Test func blobsAreObjectsUnderThePrefixFannedOutByTheirFirstTwoHexDigits() async throws {
        let store = try await makeStore()
        let written = try await store.put(Data("a camera frame"))
        let key = store.key(of: written.hash)
        #expect(key == "tenant/a/blobs/be/271649530a5666770884d5c87ef045ca73557b08e0889e6131b0e490e0991e")
        let head = try #require(try await store.client.headObject(key))
        #expect(head.size == 14)
        // Something else under the prefix is not taken for a blob.
        _ = try await store.client.putObject(
            "tenant/a/blobs/notes.txt", body: .init(string: "x"), payloadHash: BlobHash(of: Data("x")).hex,
            onlyIfAbsent: false)
        var listed: [BlobHash] = []
        for try await info in store.list() { listed.append(info.hash) }
        #expect(listed == [written.hash])
    }

    @Test func reputtingABlobMovesItsLastModifiedForward() async throws {
        let store = try await makeStore()
        let written = try await store.put(Data("reused by a later commit"))
        let before = try #require(try await store.client.headObject(store.key(of: written.hash))).modified
        // S3 stamps whole seconds: wait past the next one so the move can show.
        try await Task.sleep(for: .milliseconds(1_100))
        #expect(try await !store.put(Data("reused by a later commit")).stored)
        let after = try #require(try await store.client.headObject(store.key(of: written.hash))).modified
        #expect(after > before)
        // A gc whose cut-off fell between the two writes keeps it.
        #expect(try await !store.delete(written.hash, ifNotModifiedSince: before.addingTimeInterval(1)))
        #expect(try await store.contains(written.hash))
    }

    @Test func rangesReadPartOfABlob() async throws {
        let store = try await makeStore()
        let written = try await store.put(Data("0123456789abcdef"))
        #expect(try await store.get(written.hash, range: 2...5) == Data("2345"))
        #expect(try await store.get(written.hash, range: 10...15) == Data("abcdef"))
    }

    @Test func abandonedMultipartUploadsAreAborted() async throws {
        let store = try await makeStore()
        let key = store.keyPrefix + "ab/" + String(repeating: "c", count: 62)
        let uploadID = try await store.client.createMultipartUpload(key)
        _ = try await store.client.uploadPart(key, uploadID: uploadID, number: 1, body: .init(string: "part"))
        #expect(try await store.removeAbandonedWrites(olderThan: Date().addingTimeInterval(-3600)) == 0)
        #expect(try await store.removeAbandonedWrites(olderThan: Date().addingTimeInterval(5)) == 1)
        #expect(try await store.client.listMultipartUploads(prefix: store.keyPrefix).isEmpty)
    }

    @Test func serverSideEncryptionIsRequestedOnEveryWrite() async throws {
        let server = try await SeaweedServer.shared()
        var configuration = try await server.makeBucket(logger: .test)
        configuration.serverSideEncryption = "AES256"
        configuration.multipartThreshold = 5 << 20
        configuration.partSize = 5 << 20
        let store = S3BlobStore(configuration: configuration, logger: .test)
        let small = try await store.put(Data("secret frame"))
        let large = Data((0..<(6 << 20)).map { UInt8($0 % 253) })
        let big = try await store.put(large)
        #expect(try await store.get(small.hash) == Data("secret frame"))
        #expect(try await store.get(big.hash) == large)
        #expect(try await !store.put(large).stored)
    }

    @Test func encryptionIsCheckedWhenTheStoreOpens() async throws {
        let server = try await SeaweedServer.shared()
        // SeaweedFS encrypts with AES256 and says so: the store opens, and the probe object is gone again.
        var configuration = try await server.makeBucket(prefix: "sse", logger: .test)
        configuration.serverSideEncryption = "AES256"
        let store = S3BlobStore(configuration: configuration, logger: .test)
        try await store.verifyAccess()
        #expect(try await store.client.headObject("sse/vigil-encryption-probe") == nil)
        // It has no KMS: asked for aws:kms it refuses the write, and the store does not open.
        configuration.serverSideEncryption = "aws:kms"
        await #expect(throws: VigilError.self) {
            try await S3BlobStore(configuration: configuration, logger: .test).verifyAccess()
        }
        // A service that takes the request but does not confirm it (none runs here) is refused as well.
        #expect(S3Client.encryptionProblem(requested: "AES256", answered: "AES256", endpoint: "x") == nil)
        for answered in [nil, "aws:kms"] {
            let problem = try #require(
                S3Client.encryptionProblem(requested: "AES256", answered: answered, endpoint: "x"))
            #expect(problem.code == .badConfiguration && problem.message.contains("images would not be stored"))
        }
    }

    @Test func wrongCredentialsFailWithTheS3ErrorCode() async throws {
        let server = try await SeaweedServer.shared()
        var configuration = try await server.makeBucket(logger: .test)
        configuration.credentials = S3Credentials(accessKey: SeaweedServer.accessKey, secretKey: "not-the-secret")
        let store = S3BlobStore(configuration: configuration, logger: .test)
        let error = await #expect(throws: VigilError.self) { try await store.verifyAccess() }
        #expect(error?.code == .s3AccessDenied)
        #expect(error?.value == "SignatureDoesNotMatch")
        #expect(error?.message.contains("SignatureDoesNotMatch (403)") == true)
        #expect(error?.message.contains("not-the-secret") == false)
        let putError = await #expect(throws: VigilError.self) { try await store.put(Data("x")) }
        #expect(putError?.code == .s3AccessDenied)
    }

    @Test func aMissingBucketIsNamed() async throws {
        let server = try await SeaweedServer.shared()
        let store = S3BlobStore(configuration: try server.configuration(bucket: "no-such-bucket-here"), logger: .test)
        let error = await #expect(throws: VigilError.self) { try await store.verifyAccess() }
        #expect(error?.code == .s3BucketNotFound)
        #expect(error?.value == "no-such-bucket-here")
    }

    @Test func anUnreachableEndpointFailsAfterBoundedRetries() async throws {
        // Port 1 on loopback: nothing listens, every connection is refused.
        var configuration = try S3Configuration(
            endpoint: URL(string: "http://127.0.0.1:1")!, bucket: "anything",
            credentials: S3Credentials(accessKey: "a", secretKey: "b"))
        configuration.maxAttempts = 3
        configuration.baseBackoff = 0.01
        let store = S3BlobStore(configuration: configuration, logger: .test)
        let error = await #expect(throws: VigilError.self) { try await store.get(BlobHash(of: Data("x"))) }
        #expect(error?.code == .s3Unreachable)
        #expect(error?.value == "http://127.0.0.1:1")
        #expect(error?.message.contains("after 3 tries") == true)
    }

    @Test func aVersionedStoreKeepsItsBlobsInS3AndRemembersWhere() async throws {
        let server = try await SeaweedServer.shared()
        let bucket = try await server.makeBucket(logger: .test)
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let settings = StoreConfiguration(
            store: "s3://\(bucket.bucket)/vigil", s3Endpoint: server.endpoint.absoluteString, s3Region: "us-east-1")
        let store = try await VersionedStore.open(
            home: folder.url, create: true, configuration: settings, environment: server.environment, logger: .test)
        try await store.createRepo("images")
        let writer = try await store.openCommit(repo: "images")
        for index in 0..<20 { try await writer.put("/cam\(index)-1700000000.jpg", data: Data("frame \(index)")) }
        try await writer.finish(message: "twenty frames")
        let garbage = try await store.blobs.put(Data("nobody points here"))

        // Reopened with no settings, the folder's config.json still sends blobs to S3.
        let reopened = try await VersionedStore.open(home: folder.url, environment: server.environment, logger: .test)
        #expect(reopened.blobs is S3BlobStore)
        #expect(!FileManager.default.fileExists(atPath: folder.url.appendingPathComponent("blobs").path))
        #expect(try await reopened.read(try Address.parse("images@master:/cam7-1700000000.jpg")) == Data("frame 7"))
        #expect(try await reopened.check().isClean)
        let report = try await reopened.collectGarbage(grace: -120, clockSlack: 0)
        #expect(report.deleted == 1)
        #expect(try await !reopened.blobs.contains(garbage.hash))
        #expect(try await reopened.check().isClean)
    }
}

/// Settings resolution, no server needed.
@Suite("S3 configuration")
struct S3ConfigurationTests {
    let credentials = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"]

    @Test func locationsSplitIntoBucketAndPrefix() throws {
        #expect(try S3Configuration.parseLocation("s3://frames/site/a/") == ("frames", "site/a"))
        #expect(try S3Configuration.parseLocation("s3://frames") == ("frames", ""))
        #expect(throws: VigilError.self) { try S3Configuration.parseLocation("frames/site") }
        #expect(throws: VigilError.self) { try S3Configuration.parseLocation("s3://Bad_Bucket/x") }
    }

    @Test func aCustomEndpointIsPathStyleAndAWSIsVirtualHosted() throws {
        let custom = try #require(
            try StoreConfiguration(store: "s3://frames/p", s3Endpoint: "http://127.0.0.1:8333")
                .s3Configuration(environment: credentials))
        #expect(custom.addressing == .path)
        #expect(custom.region == "us-east-1")
        let aws = try #require(
            try StoreConfiguration(store: "s3://frames").s3Configuration(
                environment: credentials.merging(["AWS_REGION": "eu-west-1"]) { $1 }))
        #expect(aws.addressing == .virtual)
        #expect(aws.endpoint.absoluteString == "https://s3.eu-west-1.amazonaws.com")
        #expect(try StoreConfiguration().s3Configuration(environment: credentials) == nil)
    }

    @Test func virtualHostedAddressingPutsTheBucketInTheHostName() throws {
        let aws = try #require(
            try StoreConfiguration(store: "s3://frames/p").s3Configuration(
                environment: credentials.merging(["AWS_REGION": "eu-west-1"]) { $1 }))
        let virtual = S3Client(configuration: aws, logger: .test)
        #expect(virtual.host == "frames.s3.eu-west-1.amazonaws.com")
        #expect(virtual.pathPrefix == "")
        let local = S3Client(
            configuration: try #require(
                try StoreConfiguration(store: "s3://frames/p", s3Endpoint: "http://127.0.0.1:8333")
                    .s3Configuration(environment: credentials)), logger: .test)
        #expect(local.host == "127.0.0.1:8333")
        #expect(local.pathPrefix == "/frames")
    }

    @Test func flagsOverrideTheRecordedConfiguration() {
        let recorded = StoreConfiguration(store: "s3://frames/a", s3Endpoint: "http://127.0.0.1:8333")
        let merged = recorded.merged(with: StoreConfiguration(s3Region: "eu-west-1", s3Addressing: .virtual))
        #expect(merged.store == "s3://frames/a")
        #expect(merged.s3Region == "eu-west-1")
        #expect(merged.s3Addressing == .virtual)
    }

    @Test func credentialsComeFromTheEnvironmentOrTheSharedFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("credentials")
        try Data(
            "[default]\naws_access_key_id = DEF\naws_secret_access_key = S1\n[ci]\naws_access_key_id=CI\naws_secret_access_key=S2\n"
                .utf8
        )
        .write(to: file)
        let fromFile = try S3Credentials.resolve(
            environment: ["AWS_SHARED_CREDENTIALS_FILE": file.path, "AWS_PROFILE": "ci"])
        #expect(fromFile.accessKey == "CI")
        #expect(fromFile.secretKey == "S2")
        #expect(!fromFile.description.contains("S2"))
        #expect(try S3Credentials.resolve(environment: credentials).accessKey == "AKID")
        let error = #expect(throws: VigilError.self) {
            try S3Credentials.resolve(environment: ["AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"])
        }
        #expect(error?.code == .badConfiguration)
    }
}
