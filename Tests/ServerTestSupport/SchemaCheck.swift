import Foundation

/// `docs/schemas/check.py` (jsonschema 4, the draft each schema names) on documents the tests made: the one way
/// tests hold what Vigil writes against a JSON Schema, its own or Pachyderm's.
public enum SchemaCheck {
    /// The repository's root folder.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Checks each of `documents` against the schema at `schema` (a path from the root); with `examples`, the
    /// schema's own examples too. The checker's exit status (0 when all pass) and what it printed.
    public static func run(schema: String, _ documents: [Data], examples: Bool = false) throws -> (Int32, String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var paths: [String] = []
        for (index, document) in documents.enumerated() {
            let path = folder.appendingPathComponent("\(index).json")
            try document.write(to: path)
            paths.append(path.path)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", root.appendingPathComponent("docs/schemas/check.py").path]
            + (examples ? ["--examples"] : []) + [root.appendingPathComponent(schema).path] + paths
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// `run` on a thread of its own, for tests that run beside others (the checker takes seconds on a loaded
    /// machine).
    public static func check(
        schema: String, _ documents: [Data], examples: Bool = false
    ) async throws -> (Int32, String) {
        try await blockingWork { try run(schema: schema, documents, examples: examples) }
    }
}
