import Foundation
import Testing

extension ProcessTests {
    /// `vigil retention run` and `vigil hold` as an operator runs them, on an injected clock (`--now`).
    @Suite("vigil retention and vigil hold")
    struct RetentionCLITests {
        struct Entry: Decodable { var name: String }
        struct Hold: Decodable {
            var id: String
            var device: String
            var released: String?
        }
        struct Audit: Decodable {
            var action: String
            var detail: String?
        }

        static let rules = """
            customers:
              - id: acme
                name: Acme Storage Ltd
                contacts: [{name: Ana Lee, email: ana@acme.example}]
                devices: [cam1, cam2]
                dangerous: {person: 0.6}
                retention: {images: 30d}
            """

        @Test func heldFramesOutliveRetentionUntilReleased() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            for repo in ["images", "rules"] { #expect(try await vigil.run(["repo", "create", repo]).status == 0) }
            let rules = root.appendingPathComponent("customers.yaml")
            try Data(Self.rules.utf8).write(to: rules)
            #expect(try await vigil.run(["put", "rules", rules.path]).status == 0)
            // Frames from November 2023, a frame apart.
            let frames = root.appendingPathComponent("frames")
            try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
            for (index, name) in ["cam1-1700000000.jpg", "cam2-1700000010.jpg"].enumerated() {
                try Data("frame \(index)".utf8).write(to: frames.appendingPathComponent(name))
            }
            #expect(try await vigil.run(["put", "images", frames.path]).status == 0)

            let placed = try await vigil.run(["hold", "place", "--device", "cam1", "--reason", "claim 2291 (insurer)"])
            #expect(placed.status == 0, "\(placed.error)")
            let holds = try await vigil.json([Hold].self, ["hold", "list"])
            #expect(holds.map(\.device) == ["cam1"])
            let hold = try #require(holds.first)
            // Erasing held frames is refused, naming the hold; a dry run too.
            for extra in [[], ["--dry-run"]] {
                let refused = try await vigil.run(["erase", "--device", "cam1", "--reason", "asked"] + extra)
                #expect(refused.status == 1 && refused.error.contains("[held]") && refused.error.contains(hold.id))
            }

            // Ten days after the frames, nothing is past 30 days.
            #expect(try await vigil.run(["retention", "run", "--now", "1700864000"]).output.contains("erased 0 files"))
            // A year on, cam2's frame goes; cam1's is held.
            let run = try await vigil.run(["retention", "run", "--now", "2024-11-14T00:00:00Z"])
            #expect(run.status == 0 && run.output.contains("erased 1 files"), "\(run.output)\(run.error)")
            #expect(run.output.contains("1 legal holds in force"), "\(run.output)")
            #expect(try await vigil.json([Entry].self, ["ls", "images"]).map(\.name) == ["cam1-1700000000.jpg"])
            let erased = try await vigil.run(["cat", "images@master^:/cam2-1700000010.jpg"])
            #expect(erased.status == 1 && erased.error.contains("[erased]") && erased.error.contains("retention"))

            let released = try await vigil.run([
                "hold", "release", String(hold.id.prefix(8)), "--reason", "claim settled",
            ])
            #expect(released.status == 0, "\(released.error)")
            #expect(try await vigil.json([Hold].self, ["hold", "list"]).isEmpty)
            #expect(try await vigil.json([Hold].self, ["hold", "list", "--all"]).first?.released != nil)
            let dry = try await vigil.run(["retention", "run", "--now", "2024-11-14T00:00:00Z", "--dry-run"])
            #expect(dry.output.contains("would erase 1 files"), "\(dry.output)")
            let after = try await vigil.run(["retention", "run", "--now", "2024-11-14T00:00:00Z"])
            #expect(after.output.contains("erased 1 files"), "\(after.output)")
            #expect(try await vigil.json([Entry].self, ["ls", "images"]).isEmpty)

            let audit = try await vigil.json([Audit].self, ["audit"]).map(\.action)
            #expect(audit.filter { $0 == "RETENTION" }.count == 2)
            #expect(audit.contains("HOLD device cam1") && audit.contains("RELEASE HOLD device cam1"))

            for (arguments, message) in [
                (["hold", "place", "--reason", "x"], "--device ID, --customer ID or --alert ID"),
                (["hold", "place", "--customer", "nobody", "--reason", "x"], "[customer-not-found]"),
                (["hold", "place", "--device", "cam-1", "--reason", "x"], "not a device id"),
                (["hold", "release", "feedfacefeed", "--reason", "x"], "[hold-not-found]"),
                (["hold", "release", hold.id, "--reason", "again"], "[hold-released]"),
                (["retention", "run", "--now", "yesterday"], "is not a time"),
            ] {
                let refused = try await vigil.run(arguments)
                #expect(refused.status != 0 && refused.error.contains(message), "\(arguments): \(refused.error)")
            }
        }
    }
}
