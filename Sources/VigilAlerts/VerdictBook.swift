import Foundation
import VigilStore

/// Verdicts on alerts, as versioned data: one JSON record per alert, under its customer's folder
/// (`/<customer>/<alert>.json`) of a repo of their own, each verdict given or changed one commit. The latest
/// stands; the record keeps the earlier ones it replaced, and the repo's log keeps every commit, so who said
/// what, and when, can be shown later.
public struct VerdictBook: Sendable {
    private let book: RecordBook
    var store: VersionedStore { book.store }
    var repo: String { book.repo }

    public init(store: VersionedStore, repo: String) {
        book = RecordBook(
            store: store, repo: repo, description: "verdicts on alerts: confirmed or false alarm", kind: "verdict")
    }

    /// The verdict that stands on `alert`, with the earlier ones it replaced; nil before anyone judged it.
    public func verdict(on alert: AlertInfo) async throws -> AlertVerdict? {
        try await verdicts(on: [alert])[alert.id]
    }

    /// The verdicts that stand on `alerts`, by alert id (those nobody judged are absent), read from one head.
    public func verdicts(on alerts: [AlertInfo]) async throws -> [String: AlertVerdict] {
        let head: CommitInfo?
        do {
            head = try await store.resolveCommit(repo, ref: nil)
        } catch let error as VigilError where error.code == .repoNotFound {
            return [:]  // the repo is made with the first verdict
        }
        guard let head else { return [:] }
        var found: [String: AlertVerdict] = [:]
        for alert in alerts {
            let path = Self.path(customer: alert.customer, alert: alert.id)
            guard let entry = try await store.trees.lookup(path, in: head.tree), entry.kind == .file else { continue }
            found[alert.id] = try await book.read(AlertVerdict.self, at: path, hash: entry.hash)
        }
        return found
    }

    /// Records `kind` on `alert`, replacing any verdict given before (which the new record keeps in `earlier`).
    public func record(
        _ kind: AlertVerdict.Kind, label: String?, note: String?, on alert: AlertInfo, by who: String,
        now: Date = Date()
    ) async throws -> AlertVerdict {
        try AlertVerdict.check(label: label, note: note)
        var verdict = AlertVerdict(
            alert: alert, verdict: kind, label: label, note: note, by: who,
            at: RecordBook.wholeSeconds(now))
        if let standing = try await self.verdict(on: alert) {
            var replaced = standing
            replaced.earlier = []
            verdict.earlier = standing.earlier + [AlertVerdict.Earlier(replaced)]
        }
        try await book.write(
            verdict, at: Self.path(customer: verdict.customer, alert: verdict.alert), author: who,
            message: "verdict on alert \(verdict.alert): \(verdict.verdict.rawValue)"
                + (verdict.label.map { " (\($0))" } ?? ""))
        return verdict
    }

    /// Every verdict that stands, of one customer or of all, oldest judged first.
    public func all(customer: String? = nil) async throws -> [AlertVerdict] {
        let folders: [String]
        do {
            if let customer {
                folders = ["/" + customer]
            } else {
                folders = try await store.list(Address(repo: repo, ref: nil, path: "/"))
                    .filter { $0.kind == .directory }.map { "/" + $0.name }
            }
        } catch let error as VigilError where error.code == .repoNotFound || error.code == .pathNotFound {
            return []
        }
        var verdicts: [AlertVerdict] = []
        for folder in folders {
            let entries: [TreeEntry]
            do {
                entries = try await store.list(Address(repo: repo, ref: nil, path: folder))
            } catch let error as VigilError where error.code == .repoNotFound || error.code == .pathNotFound {
                continue  // no verdicts yet, or none of this customer's
            }
            for entry in entries where entry.kind == .file {
                let path = folder + "/" + entry.name
                verdicts.append(try await book.read(AlertVerdict.self, at: path, hash: entry.hash))
            }
        }
        return verdicts.sorted { ($0.at, $0.alert) < ($1.at, $1.alert) }
    }

    static func path(customer: String, alert: String) -> String { "/\(customer)/\(alert).json" }
}
