import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Tracing
import VigilAccess
import VigilStages
import VigilStore
import VigilVision

/// `PUT /v1/images/{name}`: a camera frame, the raw bytes as the body, into the images repo as one commit.
struct ImageRoutes {
    let environment: ServerEnvironment

    struct Uploaded: ResponseEncodable {
        var commit: String
        var address: String
        var bytes: Int64
        var sha256: String
    }

    func add(to router: Router<VigilRequestContext>) {
        router.put("/v1/images/:name") { request, context in try await upload(request, context: context) }
    }

    func upload(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin, .operator, .device], to: "upload images")
        let text = try context.parameters.require("name")
        let name: ImageName
        do {
            name = try ImageName.parse(text)
        } catch {
            throw APIError.badRequest(code: error.code.rawValue, error.message, value: text)
        }
        if principal.role == .device, principal.device != name.device {
            throw APIError.forbidden(
                "device '\(principal.device ?? "")' may upload only images named \(principal.device ?? "")-<seconds>.<ext>",
                value: text)
        }
        let limit = environment.configuration.maxImageBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw Self.tooLarge(limit)
        }
        // Spooled to a file as it streams in (never held whole in memory) and hashed on the way, then taken
        // into the store as it is: no second read, hash or copy.
        // Named like the blob store's temporary files (Foundation's UUID would open /dev/urandom for each one).
        let spool = try SpoolFile(in: environment.scratch, name: "upload-" + Hex.randomName())
        defer { spool.discard() }
        var head = Data()
        // The bytes are also kept in memory when the stages here will judge and detect them once committed.
        let prefetch = environment.prefetch.flatMap { $0.isActive ? $0 : nil }
        var copy = Data()
        // A silent client is cut off by the idle timeout; this bounds one that trickles a byte at a time.
        let timeout = environment.configuration.bodyTimeout
        let deadline = ContinuousClock.now + .nanoseconds(Int64(timeout * 1e9))
        try await withSpan("spool") { _ in
            for try await buffer in request.body {
                if spool.size + Int64(buffer.readableBytes) > limit { throw Self.tooLarge(limit) }
                if ContinuousClock.now > deadline {
                    throw APIError(
                        .requestTimeout, code: "body-timeout",
                        "the upload took longer than \(timeout) s to arrive; send the image again, faster",
                        value: "\(spool.size) bytes received")
                }
                if head.count < 16 { head.append(contentsOf: buffer.readableBytesView.prefix(16 - head.count)) }
                try buffer.withUnsafeReadableBytes { try spool.append($0) }
                if prefetch != nil { copy.append(contentsOf: buffer.readableBytesView) }
            }
        }
        let size = spool.size
        let hash = try spool.finish(startingWriteback: environment.store.blobs.takesFilesInPlace)
        guard size > 0 else {
            throw APIError.badRequest(code: "empty-file", "the body is empty; send the image's bytes", value: text)
        }
        guard let format = ImageFormat.sniff(head) else {
            throw APIError.badRequest(
                code: "not-an-image", "the body is neither a JPEG nor a PNG (by its first bytes)", value: text)
        }
        let declared: ImageFormat = name.fileExtension.lowercased() == "png" ? .png : .jpeg
        guard format == declared else {
            throw APIError.badRequest(
                code: "wrong-extension",
                "the body is a \(format.rawValue.uppercased()) but the name says .\(name.fileExtension)",
                value: text)
        }
        // Judged now, while it is committed (a large PNG's decode is the longest step before inference), and
        // detected once it is committed (inference on both cores would hold up the commit the camera waits
        // for); the stages' datums take the results.
        let key = hash.hex
        prefetch?.offer(name: text, hash: key, data: copy, awaitingCommit: true)
        let repo = environment.configuration.imagesRepo
        // Acknowledged once durable, in a commit shared with the uploads that arrived alongside.
        // The frame's trace goes with it into the commit, for the stages that read it next.
        let trace = TraceHeaders.capture()
        let group = environment.uploads.group(repo: repo, store: environment.store)
        // The detector is told the moment the commit is durable, not once this task runs again.
        let whenDurable: (@Sendable (CommitInfo) -> Void)? =
            if let prefetch { { _ in prefetch.committed(name: text, hash: key) } } else { nil }
        let result: (CommitInfo, BlobWrite)
        do {
            result = try await withSpan("commit") { _ in
                try await group.put(
                    "/\(text)", movingFile: spool.url, hash: hash, size: size,
                    author: "\(principal.role.rawValue):\(principal.name)", trace: trace, whenDurable: whenDurable)
            }
        } catch {
            prefetch?.withdraw(name: text, hash: key)
            throw error
        }
        let (commit, written) = result
        let address = "\(repo)@\(commit.id):/\(text)"
        var response = try Uploaded(
            commit: commit.id, address: address, bytes: written.size, sha256: written.hash.hex
        ).response(from: request, context: context)
        response.status = .created
        response.headers[.vigilTarget] = address
        return response
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(
            .contentTooLarge, code: "too-large", "the image is over the limit of \(limit) bytes", value: "\(limit)")
    }
}
