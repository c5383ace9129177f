import Foundation
import Hummingbird
import NIOCore
import VigilAccess
import VigilAlerts
import VigilStages
import VigilStore

/// `GET /v1/stats` (alert and invalid-image counts, JSON) and `GET /v1/stats/{chart}.svg` (the bar charts).
/// Admins and operators get the analytics stage's counts; a customer gets the same tables computed from its own
/// devices' threat records and invalid images only. Both come with the false-alarm rates of the verdicts on
/// those alerts (`verdicts`), and their charts.
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
                    "no chart '\(name)'; charts: "
                        + (Array(AlertCounts().charts.keys) + Array(VerdictRates().charts.keys)).sorted()
                        .joined(separator: ", "),
                    value: name)
            }
            return Response(
                status: .ok, headers: [.contentType: "image/svg+xml"],
                body: .init(byteBuffer: ByteBuffer(string: chart.svg)))
        }
    }

    /// The counts `principal` may see, with the rates of the verdicts on those alerts: a customer's own verdicts,
    /// on the frames of the times it owned each device.
    func counts(for principal: Principal) async throws -> AlertCounts {
        var counts = try await alertCounts(for: principal)
        let book = VerdictBook(store: environment.store, repo: environment.configuration.verdictsRepo)
        let verdicts: [AlertVerdict]
        if principal.role == .customer {
            let visibility = try await tenants.visibility(of: principal)
            var own: [AlertVerdict] = []
            if let customer = principal.customer { own = try await book.all(customer: customer) }
            verdicts = own.filter { visibility.mayRead(device: $0.device, at: $0.time) }
        } else {
            verdicts = try await book.all()
        }
        counts.verdicts = VerdictRates(alerts: counts.alerts, verdicts: verdicts.map(\.judged))
        counts.sources.append("\(environment.configuration.verdictsRepo)@master")
        return counts
    }

    /// The alert counts `principal` may see: for a customer, of the images from the times it owned each device.
    private func alertCounts(for principal: Principal) async throws -> AlertCounts {
        let store = environment.store
        let configuration = environment.configuration
        let everything = try await analyticsCounts()
        let visibility = try await tenants.visibility(of: principal)
        var devices = visibility.devices
        if devices == nil {
            if let everything { return everything }
            // No analytics output yet: the same tables from every device's threat records.
            let folders = (try? await store.list(Address(repo: configuration.threatsRepo, path: "/"))) ?? []
            devices = Set(folders.filter { $0.kind == .directory }.map(\.name))
        }
        var counts = AlertCounts()
        for device in (devices ?? []).sorted() {
            let folder = Address(repo: configuration.threatsRepo, path: "/\(device)")
            guard let entries = try? await store.list(folder) else { continue }
            for entry in entries where entry.kind == .file && entry.name.hasSuffix(".json") {
                if let record = try? JSONDecoder().decode(
                    ThreatRecord.self, from: try await store.blobs.get(entry.hash)),
                    visibility.mayRead(device: record.device, at: record.time)
                {
                    counts.add(record)
                }
            }
        }
        if let devices {
            // Invalid images: the analytics' table for a device this principal had all along; image by image
            // from the reasons validate wrote for a device that moved.
            var reasons: [ValidateStage.Reason]?
            for device in devices.sorted() {
                if visibility.hasAlways(device) {
                    for (reason, count) in everything?.invalid.byDeviceAndReason[device] ?? [:] {
                        counts.invalid.total += count
                        counts.invalid.byDevice[device, default: 0] += count
                        counts.invalid.byReason[reason, default: 0] += count
                        counts.invalid.byDeviceAndReason[device, default: [:]][reason] = count
                    }
                    continue
                }
                if reasons == nil { reasons = try await invalidReasons() }
                for reason in reasons ?? [] where reason.device == device {
                    guard let time = reason.time,
                        visibility.mayRead(device: device, at: Int64(time.timeIntervalSince1970))
                    else { continue }
                    counts.add(invalid: reason)
                }
            }
        }
        counts.sources =
            ["\(configuration.threatsRepo)@master"]
            + (everything == nil ? [] : ["\(configuration.statsRepo)@master (invalid images)"])
        return counts
    }

    /// Every reason validate wrote beside an invalid image.
    private func invalidReasons() async throws -> [ValidateStage.Reason] {
        let store = environment.store
        let folder = Address(repo: environment.configuration.validateRepo, path: "/invalid")
        guard let entries = try? await store.list(folder) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var reasons: [ValidateStage.Reason] = []
        for entry in entries where entry.kind == .file && entry.name.hasSuffix(".reason.json") {
            if let reason = try? decoder.decode(
                ValidateStage.Reason.self, from: try await store.blobs.get(entry.hash))
            {
                reasons.append(reason)
            }
        }
        return reasons
    }

    /// counts.json of the analytics stage's output, or nil before it has run.
    private func analyticsCounts() async throws -> AlertCounts? {
        let address = Address(repo: environment.configuration.statsRepo, path: "/counts.json")
        guard let data = try? await environment.store.read(address) else {
            return nil
        }
        return try JSONDecoder().decode(AlertCounts.self, from: data)
    }
}

extension AlertCounts: ResponseEncodable {}
