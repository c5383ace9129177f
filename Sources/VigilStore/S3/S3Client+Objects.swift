import Foundation
import NIOCore

/// What a listing or a HEAD says about one object.
public struct S3ObjectInfo: Sendable, Hashable {
    public var key: String
    public var size: Int64
    /// S3 stamps whole seconds (list answers show `.000`): the real write time is in `[modified, modified + 1 s)`.
    public var modified: Date
    public var etag: String
}

extension S3Client {
    /// Where a conditional put ended.
    enum PutOutcome {
        case created
        /// `If-None-Match: *` found the key taken (412), or a concurrent conditional write won (409).
        case exists
    }

    /// PUT of a whole object, `If-None-Match: *` when `onlyIfAbsent`.
    func putObject(
        _ key: String, body: ByteBuffer, payloadHash: String, onlyIfAbsent: Bool
    ) async throws
        -> PutOutcome
    {
        var headers = writeHeaders
        if onlyIfAbsent { headers.append(("if-none-match", "*")) }
        let response = try await send(.put, key: key, headers: headers, body: body, payloadHash: payloadHash)
        switch response.status {
        case 200..<300: return .created
        case 412, 409: return .exists
        default: throw failure(response, "PUT", key: key)
        }
    }

    /// PUT of any object (uploads to ingest, benchmarks); it replaces what is there.
    public func putObject(_ key: String, data: Data) async throws {
        _ = try await putObject(
            key, body: ByteBuffer(data: data), payloadHash: BlobHash(of: data).hex, onlyIfAbsent: false)
    }

    /// Copies an object onto itself with `x-amz-metadata-directive: REPLACE`, which moves its Last-Modified to
    /// now without sending its bytes: how a reused blob is freshened. False if the object is absent.
    func touch(_ key: String) async throws -> Bool {
        var headers = writeHeaders
        headers.append(("x-amz-copy-source", SigV4Signer.canonicalPath("/" + configuration.bucket + "/" + key)))
        headers.append(("x-amz-metadata-directive", "REPLACE"))
        let response = try await send(.put, key: key, headers: headers)
        if response.status == 404 { return false }
        // A copy can fail after its 200 has been sent: the error is then in the body.
        guard response.status == 200, response.xml?.name != "Error" else {
            if response.errorCode == "NoSuchKey" { return false }
            throw failure(response, "copy", key: key)
        }
        return true
    }

    /// The object's bytes, a byte range of them (`range`, inclusive, as HTTP's `Range`), or nil if absent.
    public func getObject(_ key: String, range: ClosedRange<Int64>? = nil) async throws -> Data? {
        let headers = range.map { [("range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? []
        let response = try await send(.get, key: key, headers: headers)
        switch response.status {
        case 200, 206: return response.data
        case 416: return Data()
        case 404 where response.errorCode != "NoSuchBucket": return nil
        default: throw failure(response, "GET", key: key)
        }
    }

    /// Size, time and ETag, or nil if absent.
    public func headObject(_ key: String) async throws -> S3ObjectInfo? {
        let response = try await send(.head, key: key)
        switch response.status {
        case 200:
            return S3ObjectInfo(
                key: key, size: response.headers.first(name: "content-length").flatMap(Int64.init) ?? 0,
                modified: response.headers.first(name: "last-modified").flatMap(S3Dates.parseHTTP)
                    ?? Date(timeIntervalSince1970: 0),
                etag: response.headers.first(name: "etag") ?? "")
        case 404: return nil
        default: throw failure(response, "HEAD", key: key)
        }
    }

    /// DELETE, `If-Match: etag` when given; false when that condition failed.
    func deleteObject(_ key: String, ifMatch etag: String? = nil) async throws -> Bool {
        let headers = etag.map { [("if-match", $0)] } ?? []
        let response = try await send(.delete, key: key, headers: headers)
        switch response.status {
        case 200..<300, 404: return true
        case 412: return false
        default: throw failure(response, "DELETE", key: key)
        }
    }

    /// One ListObjectsV2 page of keys under `prefix`, and the token for the next page (nil on the last).
    func listPage(
        prefix: String, continuation: String?, maxKeys: Int? = nil, maxAttempts: Int? = nil
    ) async throws
        -> (objects: [S3ObjectInfo], next: String?)
    {
        var query: [(name: String, value: String)] = [
            ("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys ?? configuration.listPageSize)),
        ]
        if let continuation { query.append(("continuation-token", continuation)) }
        let response = try await send(.get, key: nil, query: query, maxAttempts: maxAttempts)
        guard response.status == 200, let xml = response.xml else { throw failure(response, "list", key: prefix) }
        let objects = xml.all("Contents").compactMap { item -> S3ObjectInfo? in
            guard let key = item.value("Key") else { return nil }
            return S3ObjectInfo(
                key: key, size: item.value("Size").flatMap(Int64.init) ?? 0,
                modified: item.value("LastModified").flatMap(S3Dates.parseISO8601) ?? Date(timeIntervalSince1970: 0),
                etag: item.value("ETag") ?? "")
        }
        let truncated = xml.value("IsTruncated") == "true"
        return (objects, truncated ? xml.value("NextContinuationToken") : nil)
    }

    /// Every object under `prefix`, page after page as the consumer reads.
    public func listObjects(prefix: String) -> AsyncThrowingStream<S3ObjectInfo, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: S3ObjectInfo.self)
        let task = Task {
            do {
                var token: String?
                repeat {
                    let page = try await listPage(prefix: prefix, continuation: token)
                    for object in page.objects { continuation.yield(object) }
                    token = page.next
                } while token != nil
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Checks, with one cheap list call, that the bucket exists and the credentials work: a wrong setting fails
    /// when the store opens, with its S3 error code, not halfway through a put. Three tries at most: a command
    /// pointed at a dead endpoint says so in seconds, while the work after it keeps the full retry budget.
    public func verifyAccess(prefix: String) async throws {
        _ = try await listPage(
            prefix: prefix, continuation: nil, maxKeys: 1, maxAttempts: min(3, configuration.maxAttempts))
    }

    /// With `serverSideEncryption` set, writes a small probe object under `prefix` (beside the blobs, not among
    /// them) and checks that the service says it stored it encrypted with that algorithm: its
    /// `x-amz-server-side-encryption` answer, to the PUT or else to a HEAD. A service that ignores the request
    /// fails the start of the process, instead of every image going into the bucket in the clear. The probe is
    /// removed either way.
    public func verifyEncryption(prefix: String) async throws {
        guard let algorithm = configuration.serverSideEncryption else { return }
        let key = prefix + "vigil-encryption-probe"
        let body = Data("Vigil checks that this bucket encrypts what it stores.\n".utf8)
        let put = try await send(
            .put, key: key, headers: writeHeaders, body: ByteBuffer(data: body), payloadHash: BlobHash(of: body).hex,
            maxAttempts: min(3, configuration.maxAttempts))
        guard (200..<300).contains(put.status) else { throw failure(put, "PUT", key: key) }
        var answered = put.headers.first(name: "x-amz-server-side-encryption")
        if answered == nil {
            let head = try await send(.head, key: key, maxAttempts: min(3, configuration.maxAttempts))
            answered = head.headers.first(name: "x-amz-server-side-encryption")
        }
        _ = try? await send(.delete, key: key, maxAttempts: 1)
        if let problem = Self.encryptionProblem(
            requested: algorithm, answered: answered, endpoint: configuration.endpoint.absoluteString)
        {
            throw problem
        }
    }

    /// The error when a service's answer (`x-amz-server-side-encryption`, nil when absent) does not confirm the
    /// encryption asked for; nil when it does.
    static func encryptionProblem(requested: String, answered: String?, endpoint: String) -> VigilError? {
        guard answered?.lowercased() != requested.lowercased() else { return nil }
        return VigilError(
            .badConfiguration,
            "server-side encryption \(requested) was asked for (--s3-sse or VIGIL_S3_SSE), but \(endpoint) stored "
                + "a probe object " + (answered.map { "encrypted with \($0)" } ?? "without saying it encrypted it")
                + ": images would not be stored as asked; turn on encryption at the service, or leave the setting out",
            value: requested)
    }

    /// Makes the bucket (tests and first-time setup); an existing bucket of ours is fine.
    public func createBucket() async throws {
        let response = try await send(.put, key: nil)
        guard (200..<300).contains(response.status) || response.errorCode == "BucketAlreadyOwnedByYou" else {
            throw failure(response, "create bucket", key: nil)
        }
    }

    /// Headers every write carries.
    var writeHeaders: [(name: String, value: String)] {
        configuration.serverSideEncryption.map { [("x-amz-server-side-encryption", $0)] } ?? []
    }
}
