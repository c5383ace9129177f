import Foundation
import VigilStore

/// The legal holds, as versioned data: one JSON record per hold in a repo of their own, each placing and
/// release a commit. The repo's log is the holds' history; the record of a released hold stays.
public struct LegalHoldBook: Sendable {
    public let store: VersionedStore
    public let repo: String
    private let book: RecordBook

    public init(store: VersionedStore, repo: String) {
        self.store = store
        self.repo = repo
        book = RecordBook(
            store: store, repo: repo, description: "legal holds: evidence kept past retention", kind: "hold")
    }

    /// Every hold, released ones too, oldest first; none before the first is placed.
    public func all() async throws -> [LegalHold] {
        let head: CommitInfo?
        do {
            head = try await store.resolveCommit(repo, ref: nil)
        } catch let error as VigilError where error.code == .repoNotFound {
            head = nil  // the repo is made with the first hold
        }
        guard head != nil else { return [] }
        var holds: [LegalHold] = []
        for entry in try await store.list(Address(repo: repo, ref: nil, path: "/")) where entry.kind == .file {
            holds.append(try await book.read(LegalHold.self, at: "/" + entry.name, hash: entry.hash))
        }
        return holds.sorted { ($0.placed, $0.id) < ($1.placed, $1.id) }
    }

    /// The holds in force.
    public func active() async throws -> [LegalHold] {
        try await all().filter(\.isActive)
    }

    /// Places a hold on `device`'s frames, or on one alert's (its id, and its frame's device and time).
    public func place(
        device: String, alert: (id: String, seconds: Int64)? = nil, reason: String, by who: String, now: Date = Date()
    ) async throws -> LegalHold {
        try await place(
            LegalHold(
                id: Self.newID(), device: device, alert: alert?.id, seconds: alert?.seconds, reason: reason,
                placedBy: who, placed: RecordBook.wholeSeconds(now)))
    }

    /// Places a hold on everything of `customer`'s: the frames of the cameras it owned while it owned them, and
    /// its alerts. The caller checks that the customer is in the rules.
    public func place(customer: String, reason: String, by who: String, now: Date = Date()) async throws -> LegalHold {
        try await place(
            LegalHold(
                id: Self.newID(), device: nil, customer: customer, reason: reason, placedBy: who,
                placed: RecordBook.wholeSeconds(now)))
    }

    private static func newID() -> String {
        String(Hex.randomID().prefix(16))
    }

    private func place(_ hold: LegalHold) async throws -> LegalHold {
        try Self.checkReason(hold.reason)
        try await book.write(
            hold, at: "/\(hold.id).json", author: hold.placedBy,
            message: "hold \(hold.id) on \(hold.target): \(hold.reason)")
        return hold
    }

    /// Releases hold `id` (or a unique prefix of it): its record stays, saying who released it, when and why.
    public func release(_ id: String, reason: String, by who: String, now: Date = Date()) async throws -> LegalHold {
        try Self.checkReason(reason)
        guard id.count >= 4, id.allSatisfy(\.isHexDigit) else {
            throw VigilError(.badArgument, "'\(id)' is not a hold id: give 4 or more of its hex digits", value: id)
        }
        let matching = try await all().filter { $0.id.hasPrefix(id.lowercased()) }
        guard matching.count == 1, var hold = matching.first else {
            throw VigilError(
                matching.isEmpty ? .holdNotFound : .ambiguousHold,
                matching.isEmpty
                    ? "no hold '\(id)'; `vigil hold list --all` lists them"
                    : "'\(id)' starts more than one hold's id; give more of it", value: id)
        }
        guard hold.isActive else {
            throw VigilError(
                .holdReleased, "hold \(hold.id) was released already; place a new hold to keep the data again",
                value: hold.id)
        }
        hold.released = RecordBook.wholeSeconds(now)
        hold.releasedBy = who
        hold.releaseReason = reason
        try await book.write(
            hold, at: "/\(hold.id).json", author: who,
            message: "release hold \(hold.id) on \(hold.target): \(reason)")
        return hold
    }

    /// Refuses an erasure that would take a held frame: `held`, naming the hold. A legal hold comes first: the
    /// data it keeps is evidence, and it is erased only once the hold is released. `holds` are the active holds
    /// (`active()`); `ownership` says who owned each camera when, for customers' holds.
    public static func checkNotHeld(_ plan: ErasurePlan, holds active: [LegalHold], ownership: DeviceOwnership) throws {
        guard !active.isEmpty else { return }
        for entry in plan.entries {
            guard let frame = ImageName.frame(ofPath: entry.path),
                let hold = active.first(where: {
                    $0.holds(
                        device: frame.device, seconds: frame.seconds,
                        owner: ownership.owner(of: frame.device, at: Double(frame.seconds)))
                })
            else { continue }
            throw VigilError(
                .held,
                "\(entry.repo):\(entry.path) is under legal hold \(hold.id) (\(hold.reason)); leave it out, or "
                    + "release the hold first (`vigil hold release \(hold.id) --reason …`)", value: hold.id)
        }
    }

    private static func checkReason(_ reason: String) throws {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw VigilError(.badArgument, "say why: who asked for it, under which claim or request", value: reason)
        }
    }
}
