import Foundation
import Testing

/// What the dataset and model tests start from: cam1's two real photos (bus.jpg at 1700000000, zidane.jpg at
/// 1700000100) through validate, the real detector, the threats stage and the notifier, the first alert
/// confirmed and the second judged a false alarm (`poster`).
enum JudgedFrames {
    struct Alert: Decodable {
        var id: String
        var time: Int64
    }

    /// A spec for each pipeline: validate, `detect` (threshold 0.25), the threats stage, and `extra` (name, spec).
    static func pipelines(extra: [(String, String)]) -> [(String, String)] {
        [
            ("validate", "name: validate\ninput: {pfs: {repo: images, glob: /*}}\ntransform: {stage: validate}"),
            ("detect", detect(name: "detect", threshold: "0.25")),
            (
                "threats",
                "name: threats\ninput: {cross: [{pfs: {repo: detect, glob: /*/*}}, {pfs: {repo: rules, glob: /}}]}\n"
                    + "transform: {stage: threats}"
            ),
        ] + extra
    }

    /// A detect pipeline over the validated frames, one inference thread, at `threshold`.
    static func detect(name: String, threshold: String) -> String {
        "name: \(name)\ninput: {pfs: {repo: validate, glob: /valid/*}}\n"
            + "transform: {stage: detect, options: {intraOpThreads: 1, scoreThreshold: \(threshold)}}"
    }

    /// Sets it all up in `vigil`'s home with `rules`; the two alerts, oldest first.
    static func make(
        _ vigil: VigilProcess, root: URL, rules: String, extra: [(String, String)] = []
    ) async throws -> [Alert] {
        try await vigil.run(["init"])
        for repo in ["images", "rules"] { #expect(try await vigil.run(["repo", "create", repo]).status == 0) }
        for (name, text) in pipelines(extra: extra) {
            let spec = root.appendingPathComponent("\(name).yaml")
            try Data(text.utf8).write(to: spec)
            #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)
        }
        let rulesFile = root.appendingPathComponent("customers.yaml")
        try Data(rules.utf8).write(to: rulesFile)
        #expect(try await vigil.run(["put", "rules", rulesFile.path]).status == 0)
        let frames = root.appendingPathComponent("frames")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
        let samples = ProcessTests.VisionCLITests.samples
        for (photo, name) in [("bus.jpg", "cam1-1700000000.jpg"), ("zidane.jpg", "cam1-1700000100.jpg")] {
            try FileManager.default.copyItem(
                at: samples.appendingPathComponent(photo), to: frames.appendingPathComponent(name))
        }
        #expect(try await vigil.run(["put", "images", frames.path]).status == 0)
        #expect(try await vigil.run(["engine", "--until-idle"]).status == 0)
        let secret = root.appendingPathComponent("secret")
        try Data("a shared secret of some length".utf8).write(to: secret)
        let sink = try ProcessTests.AlertsCLITests.startSink(vigil, root: root, secret: secret)
        defer { sink.stop() }
        let notify = try await vigil.run(
            ["notify", "--alert-url", sink.url, "--alert-secret-file", secret.path, "--until-idle"])
        #expect(notify.status == 0, "\(notify.error)")
        let alerts = try await vigil.json([Alert].self, ["alerts", "list"]).sorted { $0.time < $1.time }
        try #require(alerts.count == 2)
        // The bus photo was someone; the other one a poster, say.
        #expect(try await vigil.run(["alerts", "verdict", alerts[0].id, "--confirmed"]).status == 0)
        #expect(
            try await vigil.run(["alerts", "verdict", alerts[1].id, "--false-alarm", "--label", "poster"]).status == 0)
        return alerts
    }
}
