import Foundation
import ServerTestSupport
import Testing
import VigilAlerts
import VigilStages

/// The JSON Schemas in docs/schemas are the contract receivers code against: what the notifier really sends
/// and what the threats stage really writes must pass them (checked by docs/schemas/check.py, jsonschema 4).
@Suite("Alert and threat records against their JSON Schemas")
struct SchemaTests {
    /// check.py on `documents` and the schema's own examples: its exit status and output.
    static func check(schema: String, _ documents: [Data]) async throws -> (Int32, String) {
        try await SchemaCheck.check(schema: "docs/schemas/\(schema)", documents, examples: true)
    }

    @Test func deliveredAlertsMatchTheAlertSchema() async throws {
        let store = try makeStore()
        try await commitThreats(
            [try threatRecord(), try threatRecord(device: "garage", contacts: ["Bo Chen"])], to: store)
        let bodies = try await withSink { sink, url in
            let transport = try transport(url)
            var configuration = fastConfiguration()
            configuration.image = .inline
            configuration.imageURL = "https://vigil.example/v1/repos/{repo}/commits/{commit}/files{path}"
            let notifier = try Notifier(
                store: store, database: try SQLiteAlertStore(), transport: transport, configuration: configuration,
                logger: quiet)
            try await notifier.runUntilIdle()
            await transport.shutdown()
            return try sink.received.map { try $0.alert.encoded() }
        }
        #expect(bodies.count == 2)
        let (status, output) = try await Self.check(schema: "alert.schema.json", bodies)
        #expect(status == 0, "\(output)")
        #expect(output.components(separatedBy: "ok ").count == 4, "\(output)")
        // The schema can fail: a payload without its sentence does not pass.
        var broken = try JSONSerialization.jsonObject(with: bodies[0]) as! [String: Any]
        broken["message"] = nil
        let (brokenStatus, brokenOutput) = try await Self.check(
            schema: "alert.schema.json", [try JSONSerialization.data(withJSONObject: broken)])
        #expect(brokenStatus == 1 && brokenOutput.contains("'message' is a required property"))
    }

    @Test func threatRecordsMatchTheThreatSchema() async throws {
        let (status, output) = try await Self.check(
            schema: "threat.schema.json", [try threatRecord().encoded(), try threatRecord(contacts: ["Cy"]).encoded()])
        #expect(status == 0, "\(output)")
    }
}
