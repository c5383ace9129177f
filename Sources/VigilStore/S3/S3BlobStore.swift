import Crypto
import Foundation
import Logging
import NIOCore

/// A `BlobStore` in an S3 bucket: blob `abcd…` is the object `<prefix>/blobs/ab/cd…`, so a prefix holds one
/// Vigil's blobs and nothing else, and the layout matches `FileSystemBlobStore`'s fan-out.
///
/// - put: `PUT` with `If-None-Match: *` and the blob's SHA-256 as `x-amz-content-sha256` (the address *is* the
///   payload hash, so the body is hashed once). A 412 means the blob is there: it is freshened instead (below)
///   and reported as not stored. Blobs over `multipartThreshold` are looked for first (freshened if present,
///   so gigabytes are not sent to learn they exist) and otherwise go up as a multipart upload; two writers of
///   the same large blob may both upload it, harmlessly, as the bytes are the same.
/// - freshen: a self-copy with `x-amz-metadata-directive: REPLACE` moves Last-Modified to now, server-side.
/// - delete(ifNotModifiedSince:): HEAD, compare, then `DELETE` with `If-Match` on the ETag seen. S3 offers no
///   delete conditional on time, and a freshen keeps the ETag, so a writer that freshens in the one round trip
///   between the HEAD and the DELETE is not seen (docs/STORE.md says what covers that window).
/// - times: S3 stamps whole seconds, so a blob's real write time lies in `[Last-Modified, +1 s)`. `list()`
///   reports the end of that second and delete keeps a blob unless the whole second is before the cut-off:
///   both err towards keeping.
/// - flush: nothing to do; S3 acknowledges a PUT only once it is durable.
public final class S3BlobStore: BlobStore {
    public let client: S3Client
    /// `<prefix>/blobs/`, or `blobs/` at the bucket's root.
    public let keyPrefix: String
    private var configuration: S3Configuration { client.configuration }

    public init(configuration: S3Configuration, logger: Logger) {
        client = S3Client(configuration: configuration, logger: logger)
        keyPrefix = (configuration.prefix.isEmpty ? "" : configuration.prefix + "/") + "blobs/"
    }

    /// Fails at once, with S3's error code, when the bucket is missing, the credentials are wrong or the
    /// endpoint does not answer; and, with server-side encryption asked for, when the service does not say it
    /// encrypts what it stores.
    public func verifyAccess() async throws {
        try await client.verifyAccess(prefix: keyPrefix)
        try await client.verifyEncryption(prefix: String(keyPrefix.dropLast("blobs/".count)))
    }

    public func key(of hash: BlobHash) -> String {
        let hex = hash.hex
        return keyPrefix + hex.prefix(2) + "/" + hex.dropFirst(2)
    }

    public func put(_ data: Data) async throws -> BlobWrite {
        let hash = BlobHash(of: data)
        let size = Int64(data.count)
        let key = key(of: hash)
        if data.count > configuration.multipartThreshold {
            if try await client.touch(key) { return BlobWrite(hash: hash, size: size, stored: false) }
            try await uploadInParts(key, size: data.count) { range in data.subdata(in: range) }
            return BlobWrite(hash: hash, size: size, stored: true)
        }
        let body = ByteBuffer(data: data)
        // Twice at most: a gc may delete the blob between our 412 and our freshen; then it is simply put again.
        for _ in 0..<3 {
            switch try await client.putObject(key, body: body, payloadHash: hash.hex, onlyIfAbsent: true) {
            case .created:
                return BlobWrite(hash: hash, size: size, stored: true)
            case .exists:
                if try await client.touch(key) { return BlobWrite(hash: hash, size: size, stored: false) }
            }
        }
        throw VigilError(.s3Error, "blob \(hash.hex) kept vanishing while it was being put", value: key)
    }

    public func put(contentsOf file: URL) async throws -> BlobWrite {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: file)
        } catch {
            throw VigilError(.io, "cannot read '\(file.path)': \(error.localizedDescription)", value: file.path)
        }
        defer { try? handle.close() }
        let size: Int
        do {
            // Through symbolic links, as the file store's open() goes.
            let attributes = try FileManager.default.attributesOfItem(atPath: file.resolvingSymlinksInPath().path)
            guard attributes[.type] as? FileAttributeType == .typeRegular else {
                throw VigilError(.notAFile, "'\(file.path)' is not a regular file", value: file.path)
            }
            size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        } catch let error as VigilError {
            throw error
        } catch {
            throw VigilError(.io, "cannot read '\(file.path)': \(error.localizedDescription)", value: file.path)
        }
        if size <= configuration.multipartThreshold {
            return try await put(try read(handle, file))
        }
        // Large: one pass to learn the address, then the parts straight from the file.
        var hasher = SHA256()
        while let chunk = try read(handle, file, upTo: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        let hash = BlobHash(digest: hasher.finalize())
        let key = key(of: hash)
        if try await client.touch(key) { return BlobWrite(hash: hash, size: Int64(size), stored: false) }
        try await uploadInParts(key, size: size) { range in
            try handle.seek(toOffset: UInt64(range.lowerBound))
            return try self.read(handle, file, upTo: range.count) ?? Data()
        }
        return BlobWrite(hash: hash, size: Int64(size), stored: true)
    }

    /// A multipart upload of `size` bytes in `partSize` parts, aborted (so nothing lingers) if a part fails.
    private func uploadInParts(_ key: String, size: Int, part: (Range<Int>) throws -> Data) async throws {
        let uploadID = try await client.createMultipartUpload(key)
        do {
            var etags: [String] = []
            var offset = 0
            while offset < size {
                let range = offset..<min(size, offset + configuration.partSize)
                let bytes = try part(range)
                etags.append(
                    try await client.uploadPart(
                        key, uploadID: uploadID, number: etags.count + 1, body: ByteBuffer(data: bytes)))
                offset = range.upperBound
            }
            try await client.completeMultipartUpload(key, uploadID: uploadID, etags: etags)
        } catch {
            try? await client.abortMultipartUpload(key, uploadID: uploadID)
            throw error
        }
    }

    public func get(_ hash: BlobHash) async throws -> Data {
        let key = key(of: hash)
        guard let data = try await client.getObject(key) else { throw Self.notFound(hash) }
        return try Self.verified(data, as: hash, at: "s3 key '\(key)'")
    }

    /// Bytes `range` (inclusive, as HTTP's `Range`) of a blob: a part of a large blob without fetching it all.
    public func get(_ hash: BlobHash, range: ClosedRange<Int64>) async throws -> Data {
        guard let data = try await client.getObject(key(of: hash), range: range) else { throw Self.notFound(hash) }
        return data
    }

    public func contains(_ hash: BlobHash) async throws -> Bool {
        try await client.headObject(key(of: hash)) != nil
    }

    public func list() -> AsyncThrowingStream<BlobInfo, any Error> {
        let objects = client.listObjects(prefix: keyPrefix)
        let prefixLength = keyPrefix.count
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: BlobInfo.self)
        let task = Task {
            do {
                for try await object in objects {
                    // `ab/cdef…` → the hash; anything else under the prefix is not a blob of ours.
                    let name = object.key.dropFirst(prefixLength)
                    guard name.count == 65, name.dropFirst(2).first == "/",
                        let hash = BlobHash(hex: name.prefix(2) + name.dropFirst(3))
                    else { continue }
                    continuation.yield(
                        BlobInfo(hash: hash, size: object.size, modified: object.modified.addingTimeInterval(1)))
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    public func delete(_ hash: BlobHash, ifNotModifiedSince cutoff: Date) async throws -> Bool {
        let key = key(of: hash)
        guard let head = try await client.headObject(key) else { return false }
        if head.modified.addingTimeInterval(1) > cutoff { return false }
        return try await client.deleteObject(key, ifMatch: head.etag.isEmpty ? nil : head.etag)
    }

    public func flush() async throws {}

    /// Aborts multipart uploads under the prefix begun before `cutoff`: a writer killed mid-upload leaves its
    /// parts stored (and billed) until then.
    public func removeAbandonedWrites(olderThan cutoff: Date) async throws -> Int {
        var removed = 0
        for upload in try await client.listMultipartUploads(prefix: keyPrefix) where upload.initiated < cutoff {
            try await client.abortMultipartUpload(upload.key, uploadID: upload.id)
            removed += 1
        }
        return removed
    }

    private func read(_ handle: FileHandle, _ file: URL, upTo count: Int) throws -> Data? {
        do {
            return try handle.read(upToCount: count)
        } catch {
            throw VigilError(.io, "cannot read '\(file.path)': \(error.localizedDescription)", value: file.path)
        }
    }

    private func read(_ handle: FileHandle, _ file: URL) throws -> Data {
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            throw VigilError(.io, "cannot read '\(file.path)': \(error.localizedDescription)", value: file.path)
        }
    }
}
