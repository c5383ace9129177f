import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import VigilStore

/// `DELETE /v1/repos/{repo}/files/{path}`: a new commit without the file, history keeping it, in the audit log;
/// and what the API answers for a file an erasure took.
@Suite("Deleting and erased files over the API")
struct DeleteFileTests {
    struct Deleted: Decodable {
        struct Commit: Decodable {
            var id: String
            var branch: String
            var parent: String?
        }
        var commit: Commit
    }

    @Test func anOperatorDeletesAFileThatHistoryKeeps() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let before = try #require(try await fixture.environment.store.resolveCommit("images", ref: nil))
        try await fixture.test { client in
            let file = "/v1/repos/images/files/frontdoor-1763800000.jpg"
            let customer = try await client.execute(uri: file, method: .delete, headers: fixture.headers("acme"))
            #expect(customer.status == .forbidden)

            let deleted = try await client.execute(uri: file, method: .delete, headers: fixture.headers("operator"))
            #expect(deleted.status == .ok, "\(String(buffer: deleted.body))")
            let answer = try JSONDecoder().decode(Deleted.self, from: Data(buffer: deleted.body))
            #expect(answer.commit.branch == "master" && answer.commit.parent == before.id)

            let gone = try await client.execute(uri: file, method: .get, headers: fixture.headers("admin"))
            #expect(gone.status == .notFound)
            let kept = try await client.execute(
                uri: file + "?ref=\(before.id)", method: .get, headers: fixture.headers("admin"))
            #expect(kept.status == .ok && Data(buffer: kept.body) == ServerFixture.jpeg)
            // The other camera's frame is still at the head.
            let other = try await client.execute(
                uri: "/v1/repos/images/files/garage-1763800000.jpg", method: .get, headers: fixture.headers("admin"))
            #expect(other.status == .ok)

            let again = try await client.execute(uri: file, method: .delete, headers: fixture.headers("operator"))
            #expect(again.status == .notFound && again.errorCode == "path-not-found")
            // The whole tree is not a file: no route deletes `/` (delete the repo instead).
            let root = try await client.execute(
                uri: "/v1/repos/images/files/", method: .delete, headers: fixture.headers("admin"))
            #expect(root.status == .notFound)
            let still = try await client.execute(
                uri: "/v1/repos/images/files/garage-1763800000.jpg", method: .get, headers: fixture.headers("admin"))
            #expect(still.status == .ok)
        }
        let audit = try await fixture.environment.access.audit(token: nil, since: nil, limit: 100)
        #expect(
            audit.contains {
                $0.action.hasPrefix("DELETE ") && $0.status == 200
                    && $0.target?.hasSuffix("/frontdoor-1763800000.jpg deleted") == true
            }, "\(audit)")
    }

    @Test func anErasedImageIsGoneWithItsReasonAndHasNoPreview() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let store = fixture.environment.store
        let before = try #require(try await store.resolveCommit("images", ref: nil))
        let frontdoor = ErasureSelection("--device frontdoor") { _, path in path.contains("frontdoor-") }
        _ = try await store.erase(frontdoor, requester: "ops (operator)", reason: "camera faced the neighbours")
        // The alert's image (its record names validate's copy) is erased too.
        let image = try await fixture.environment.alerts.alert(try #require(fixture.alertIDs["acme"])).0
        let address = try Address.parse(image.record.image.address)
        try await store.metadata.recordErasure(
            ErasureInfo(id: "e2", time: Date(), requester: "ops", reason: "same request", selection: "validate copy"),
            entries: [
                ErasedEntry(
                    repo: address.repo, path: address.path,
                    hash: try #require(BlobHash(hex: image.record.image.sha256)),
                    size: 512)
            ])
        try await fixture.test { client in
            let old = try await client.execute(
                uri: "/v1/repos/images/files/frontdoor-1763800000.jpg?ref=\(before.id)", method: .get,
                headers: fixture.headers("admin"))
            #expect(old.status == .gone && old.errorCode == "erased")
            #expect(String(buffer: old.body).contains("camera faced the neighbours"))
            let preview = try await client.execute(
                uri: "/v1/alerts/\(try #require(fixture.alertIDs["acme"]))/thumbnail.jpg", method: .get,
                headers: fixture.headers("acme"))
            #expect(preview.status == .gone && preview.errorCode == "erased")
            let other = try await client.execute(
                uri: "/v1/repos/images/files/garage-1763800000.jpg", method: .get, headers: fixture.headers("admin"))
            #expect(other.status == .ok)
        }
    }

    struct Summary: Decodable {
        struct Erasure: Decodable { var id: String }
        var erasure: Erasure?
        var dryRun: Bool
        var files: Int
    }

    @Test func anAdminErasesADeviceOverTheAPI() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let body = #"{"devices": ["garage"], "reason": "camera removed, ticket 12"#
            let dry = try await client.execute(
                uri: "/v1/erasures", method: .post, headers: fixture.headers("admin"),
                body: ByteBuffer(string: body + #"", "dryRun": true}"#))
            #expect(dry.status == .ok, "\(String(buffer: dry.body))")
            let listed = try JSONDecoder().decode(Summary.self, from: Data(buffer: dry.body))
            #expect(listed.dryRun && listed.erasure == nil && listed.files == 3)  // image, detection, threat
            let file = "/v1/repos/images/files/garage-1763800000.jpg"
            #expect(try await client.execute(uri: file, method: .get, headers: fixture.headers("admin")).status == .ok)

            let operatorAsks = try await client.execute(
                uri: "/v1/erasures", method: .post, headers: fixture.headers("operator"),
                body: ByteBuffer(string: body + "\"}"))
            #expect(operatorAsks.status == .forbidden)
            let noReason = try await client.execute(
                uri: "/v1/erasures", method: .post, headers: fixture.headers("admin"),
                body: ByteBuffer(string: #"{"devices": ["garage"]}"#))
            #expect(noReason.status == .badRequest && noReason.errorCode == "bad-erasure")

            let done = try await client.execute(
                uri: "/v1/erasures", method: .post, headers: fixture.headers("admin"),
                body: ByteBuffer(string: body + "\"}"))
            #expect(done.status == .ok, "\(String(buffer: done.body))")
            let erased = try JSONDecoder().decode(Summary.self, from: Data(buffer: done.body))
            #expect(!erased.dryRun && erased.erasure != nil && erased.files == 3)
            // Gone from the head; through the commit before, 410 with the reason.
            #expect(
                try await client.execute(uri: file, method: .get, headers: fixture.headers("admin")).status == .notFound
            )
            let history = try await client.execute(
                uri: file + "?ref=master%5E", method: .get, headers: fixture.headers("admin"))
            #expect(history.status == .gone && String(buffer: history.body).contains("ticket 12"))
            let frontdoor = try await client.execute(
                uri: "/v1/repos/images/files/frontdoor-1763800000.jpg", method: .get, headers: fixture.headers("admin"))
            #expect(frontdoor.status == .ok)
        }
        let audit = try await fixture.environment.access.audit(token: nil, since: nil, limit: 100)
        #expect(audit.contains { $0.action == "POST /v1/erasures" && $0.target?.hasPrefix("erasure ") == true })
    }
}
