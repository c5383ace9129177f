import Foundation
import Hummingbird
import NIOCore
import VigilAccess
import VigilStages
import VigilStore

/// `GET /v1/stats` (alert and invalid-image counts, JSON) and `GET /v1/stats/{chart}.svg` (the bar charts).
/// Admins and operators get the analytics stage's counts; a customer gets the same tables computed from its own
/// devices' threat records and invalid images only.
struct StatsRoutes {
    let environment: ServerEnvironment
    let tenants: TenantScope

    func add(to router: Router<VigilRequestContext>) {
        router.get("/v1/stats") { _, context in
            let principal = try context.require([.admin, .operator, .customer], to: "read stats")
            return try await counts(for: principal)
        }
        router.get("/v1/stats/:chart") { _, context in
            let principal = try context.require([.admin, .operator, .customer], to: "read stats")
            let name = try context.parameters.require("chart")
            guard let chart = try await counts(for: principal).charts[name] else {
                throw APIError.notFound(
                    "no chart '\(name)'; charts: " + AlertCounts().charts.keys.sorted().joined(separator: ", "),
                    value: name)
            }
            return Response(
                status: .ok, headers: [.contentType: "image/svg+xml"],
                body: .init(byteBuffer: ByteBuffer(string: chart.svg)))
        }
    }

    /// The counts `principal` may see.
    func counts(for principal: Principal) async throws -> AlertCounts {
        let store = environment.store
        let everything = try await analyticsCounts()
        let threatsRepo = "threats"
        var devices = try await tenants.devices(of: principal)
        if devices == nil {
            if let everything { return everything }
            // No analytics output yet: the same tables from every device's threat records.
            let folders = (try? await store.list(Address(repo: threatsRepo, path: "/"))) ?? []
            devices = Set(folders.filter { $0.kind == .directory }.map(\.name))
        }
        var counts = AlertCounts()
        for device in (devices ?? []).sorted() {
            let folder = Address(repo: threatsRepo, path: "/\(device)")
            guard let entries = try? await store.list(folder) else { continue }
            for entry in entries where entry.kind == .file && entry.name.hasSuffix(".json") {
                if let record = try? JSONDecoder().decode(
                    ThreatRecord.self, from: try await store.blobs.get(entry.hash))
                {
                    counts.add(record)
                }
            }
        }
        if let everything, let devices {
            for device in devices {
                for (reason, count) in everything.invalid.byDeviceAndReason[device] ?? [:] {
                    counts.invalid.total += count
                    counts.invalid.byDevice[device, default: 0] += count
                    counts.invalid.byReason[reason, default: 0] += count
                    counts.invalid.byDeviceAndReason[device, default: [:]][reason] = count
                }
            }
        }
        counts.sources = ["\(threatsRepo)@master"] + (everything == nil ? [] : ["stats@master (invalid images)"])
        return counts
    }

    /// counts.json of the analytics stage's output, or nil before it has run.
    private func analyticsCounts() async throws -> AlertCounts? {
        guard let data = try? await environment.store.read(Address(repo: "stats", path: "/counts.json")) else {
            return nil
        }
        return try JSONDecoder().decode(AlertCounts.self, from: data)
    }
}

extension AlertCounts: ResponseEncodable {}
