import Crypto
import Foundation
import NIOCore

/// An unfinished multipart upload, as ListMultipartUploads reports it.
struct S3Upload: Sendable {
    var key: String
    var id: String
    var initiated: Date
}

extension S3Client {
    func createMultipartUpload(_ key: String) async throws -> String {
        let response = try await send(.post, key: key, query: [("uploads", "")], headers: writeHeaders)
        guard response.status == 200, let id = response.xml?.value("UploadId") else {
            throw failure(response, "start a multipart upload of", key: key)
        }
        return id
    }

    /// Uploads part `number` (from 1) and returns its ETag. Over https the part is sent unsigned (TLS guards
    /// it); over http its SHA-256 is signed.
    func uploadPart(_ key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> String {
        let hash =
            configuration.endpoint.scheme?.lowercased() == "https"
            ? SigV4Signer.unsignedPayload
            : SigV4Signer.hex(SHA256.hash(data: body.readableBytesView))
        let response = try await send(
            .put, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body,
            payloadHash: hash)
        guard response.status == 200, let etag = response.headers.first(name: "etag") else {
            throw failure(response, "upload a part of", key: key)
        }
        return etag
    }

    func completeMultipartUpload(_ key: String, uploadID: String, etags: [String]) async throws {
        var xml = "<CompleteMultipartUpload>"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XMLNode.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Data(xml.utf8)
        let response = try await send(
            .post, key: key, query: [("uploadId", uploadID)], body: ByteBuffer(data: body),
            payloadHash: SigV4Signer.hex(SHA256.hash(data: body)))
        // Like a copy, a completion can fail after its 200: the error is then in the body.
        guard response.status == 200, response.xml?.name != "Error" else {
            throw failure(response, "complete the multipart upload of", key: key)
        }
    }

    func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        let response = try await send(.delete, key: key, query: [("uploadId", uploadID)])
        guard (200..<300).contains(response.status) || response.status == 404 else {
            throw failure(response, "abort the multipart upload of", key: key)
        }
    }

    /// Unfinished uploads under `prefix` (every page).
    func listMultipartUploads(prefix: String) async throws -> [S3Upload] {
        var uploads: [S3Upload] = []
        var marker: (key: String, id: String)?
        while true {
            var query: [(name: String, value: String)] = [("uploads", ""), ("prefix", prefix)]
            if let marker { query += [("key-marker", marker.key), ("upload-id-marker", marker.id)] }
            let response = try await send(.get, key: nil, query: query)
            guard response.status == 200, let xml = response.xml else {
                throw failure(response, "list multipart uploads", key: prefix)
            }
            for upload in xml.all("Upload") {
                guard let key = upload.value("Key"), let id = upload.value("UploadId") else { continue }
                let initiated = upload.value("Initiated").flatMap(S3Dates.parseISO8601) ?? Date()
                uploads.append(S3Upload(key: key, id: id, initiated: initiated))
            }
            guard xml.value("IsTruncated") == "true", let key = xml.value("NextKeyMarker"),
                let id = xml.value("NextUploadIdMarker")
            else { return uploads }
            marker = (key, id)
        }
    }
}
