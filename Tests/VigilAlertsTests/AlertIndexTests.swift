import Foundation
import GRDB
import Testing
import VigilAlerts

/// A customer's alerts are read through an index on the customer, not by a pass over every customer's:
/// its dashboard and API list them, and retention looks for each customer's old ones.
@Suite struct AlertIndexTests {
    @Test(arguments: [
        "SELECT * FROM alerts WHERE customer = 'acme' ORDER BY time DESC, rowid DESC LIMIT 100",
        "SELECT * FROM alerts WHERE customer = 'acme' AND time <= 1700000000 ORDER BY time DESC, rowid DESC LIMIT 100",
    ])
    func aCustomersAlertsAreSoughtNotScanned(query: String) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("alert-index-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("alerts.sqlite").path
        _ = try SQLiteAlertStore(path: path)
        let plan = try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query)
                .map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("USING INDEX alerts_by_customer_time") }, "\(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
    }
}
