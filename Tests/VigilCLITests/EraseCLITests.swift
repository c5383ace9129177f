import Foundation
import Testing

extension ProcessTests {
    /// `vigil erase` after a camera's frames went through validate and the real detector.
    @Suite("vigil erase")
    struct EraseCLITests {
        struct Entry: Decodable { var name: String }
        struct Audit: Decodable {
            var action: String
            var detail: String?
        }

        @Test func aCamerasFramesAreErasedFromEveryStageAndCommit() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let home = root.appendingPathComponent("home")
            let vigil = VigilProcess(home: home)
            try await vigil.run(["init"])
            #expect(try await vigil.run(["repo", "create", "images"]).status == 0)
            for (name, text) in [
                ("validate", "name: validate\ninput: {pfs: {repo: images, glob: /*}}\ntransform: {stage: validate}"),
                (
                    "detect",
                    "name: detect\ninput: {pfs: {repo: validate, glob: /valid/*}}\n"
                        + "transform: {stage: detect, options: {intraOpThreads: 1}}"
                ),
            ] {
                let spec = root.appendingPathComponent("\(name).yaml")
                try Data(text.utf8).write(to: spec)
                #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)
            }
            // cam1 sends two photos; cam2 sends the same bytes as cam1's first (the same frame, twice).
            let frames = root.appendingPathComponent("frames")
            try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
            let samples = VisionCLITests.samples
            for (photo, name) in [
                ("bus.jpg", "cam1-1700000000.jpg"), ("zidane.jpg", "cam1-1700000100.jpg"),
                ("bus.jpg", "cam2-1700000200.jpg"),
            ] {
                try FileManager.default.copyItem(
                    at: samples.appendingPathComponent(photo), to: frames.appendingPathComponent(name))
            }
            #expect(try await vigil.run(["put", "images", frames.path]).status == 0)
            #expect(try await vigil.run(["engine", "--until-idle"]).status == 0)
            #expect(try await vigil.json([Entry].self, ["ls", "detect@master:/cam1"]).count == 2)

            let dry = try await vigil.run(["erase", "--device", "cam1", "--reason", "customer left", "--dry-run"])
            #expect(dry.status == 0, "\(dry.error)")
            #expect(dry.output.contains("would erase 6 files"), "\(dry.output)")
            #expect(try await vigil.run(["cat", "images:/cam1-1700000100.jpg"]).status == 0)

            let erased = try await vigil.run(["erase", "--device", "cam1", "--reason", "customer left (ticket 4711)"])
            #expect(erased.status == 0, "\(erased.error)")
            #expect(erased.output.contains("erased 6 files"), "\(erased.output)")
            // Through any commit: one line, code `erased`, the reason.
            let read = try await vigil.run(["cat", "images@master^:/cam1-1700000100.jpg"])
            #expect(read.status == 1 && read.error.contains("[erased]") && read.error.contains("ticket 4711"))
            #expect(read.error.split(separator: "\n").count == 1)
            // cam2's frame keeps its bytes (shared with cam1's first).
            let kept = try await vigil.run(["cat", "images:/cam2-1700000200.jpg"])
            let bus = try Data(contentsOf: samples.appendingPathComponent("bus.jpg"))
            #expect(kept.status == 0 && kept.outputData == bus)
            // No copy of zidane.jpg's bytes is left anywhere in the data folder.
            let zidane = try Data(contentsOf: samples.appendingPathComponent("zidane.jpg"))
            let probe = zidane.subdata(in: 10_000..<10_256)
            let files = FileManager.default.enumerator(at: home, includingPropertiesForKeys: nil)
            while let file = files?.nextObject() as? URL {
                guard let data = try? Data(contentsOf: file) else { continue }
                #expect(data.range(of: probe) == nil, "\(file.path)")
            }
            // The pipelines run on without failing, and no stage's head lists cam1 any more.
            let again = try await vigil.run(["engine", "--until-idle"])
            #expect(again.status == 0 && !again.output.contains("failed"), "\(again.output)")
            #expect(try await vigil.json([Entry].self, ["ls", "detect"]).map(\.name) == ["cam2"])
            #expect(
                try await vigil.json([Entry].self, ["ls", "validate@master:/valid"]).map(\.name) == [
                    "cam2-1700000200.jpg"
                ])
            let fsck = try await vigil.run(["fsck"])
            #expect(fsck.status == 0 && fsck.output.contains("erased"), "\(fsck.output)")
            let audit = try await vigil.json([Audit].self, ["audit"])
            #expect(audit.contains { $0.action == "ERASE --device cam1" && $0.detail?.contains("ticket 4711") == true })

            let refused = try await vigil.run(["erase", "--device", "cam1"])
            #expect(refused.status != 0 && refused.error.contains("--reason"))
        }

        /// A customer who left: its name and contacts go from every past version of the rules, and nowhere in
        /// the data folder is there a byte of them; while it is still in the rules in force, the CLI says so.
        @Test func aCustomersNameAndContactsLeaveTheRulesHistory() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let home = root.appendingPathComponent("home")
            let vigil = VigilProcess(home: home)
            try await vigil.run(["init"])
            #expect(try await vigil.run(["repo", "create", "rules"]).status == 0)
            let smiths = """
                  - id: smiths
                    name: The Smiths
                    contacts: [{name: Sam Smith, phone: "07700 900123"}]
                    devices: [garage]
                    dangerous: {person: 0.5}
                """
            let acme = """
                  - id: acme
                    name: Acme Storage Ltd
                    contacts: [{name: Ana Lee, email: ana@acme.example}]
                    devices: [frontdoor]
                    dangerous: {person: 0.6}
                """
            let file = root.appendingPathComponent("customers.yaml")
            func put(_ customers: [String]) async throws {
                try Data(("customers:\n" + customers.joined(separator: "\n") + "\n").utf8).write(to: file)
                #expect(try await vigil.run(["put", "rules", file.path]).status == 0)
            }
            try await put([acme, smiths])
            try await put([acme.replacingOccurrences(of: "Ana Lee", with: "Ana Lee-Ray"), smiths])

            let early = try await vigil.run(["erase", "--customer", "acme", "--reason", "its request"])
            #expect(early.status == 0, "\(early.error)")
            #expect(early.output.contains("erased rules:/customers.yaml"), "\(early.output)")
            #expect(early.error.contains("note: customer 'acme' is in the rules in force"), "\(early.error)")
            let past = try await vigil.run(["cat", "rules@master^:/customers.yaml"])
            #expect(past.status == 1 && past.error.contains("[erased]"), "\(past.error)")
            #expect(try await vigil.run(["cat", "rules:/customers.yaml"]).output.contains("Ana Lee-Ray"))

            try await put([smiths])
            let left = try await vigil.run(["erase", "--customer", "acme", "--reason", "customer left"])
            #expect(left.status == 0 && !left.error.contains("note:"), "\(left.error)")
            let files = FileManager.default.enumerator(at: home, includingPropertiesForKeys: nil)
            while let found = files?.nextObject() as? URL {
                guard let data = try? Data(contentsOf: found) else { continue }
                for personal in ["ana@acme.example", "Acme Storage Ltd", "Ana Lee"] {
                    #expect(data.range(of: Data(personal.utf8)) == nil, "\(personal) in \(found.path)")
                }
            }
            let fsck = try await vigil.run(["fsck"])
            #expect(fsck.status == 0, "\(fsck.output)")
        }
    }
}
