import Foundation
import VigilAccess
import VigilStages
import VigilStore

/// Which devices a customer owns (from the current rules in the `rules` repo, the same ones that judge
/// threats), and which device a path in a repo belongs to: what keeps a customer to its own data.
final class TenantScope: Sendable {
    let store: VersionedStore
    let rulesRepo: String
    /// The rule book of the last rules tree read: parsed once per rules version.
    private let cache = RuleBookCache()

    init(store: VersionedStore, rulesRepo: String) {
        self.store = store
        self.rulesRepo = rulesRepo
    }

    /// The devices `principal` may see: nil for everything (admins, operators), its own for a device, the
    /// customer's (by the current rules) for a customer.
    func devices(of principal: Principal) async throws -> Set<String>? {
        switch principal.role {
        case .admin, .operator: return nil
        case .device: return Set([principal.device].compactMap { $0 })
        case .customer:
            guard let customer = principal.customer else { return [] }
            return Set(try await ruleBook()?.customers.first { $0.id == customer }?.devices ?? [])
        }
    }

    /// The device a file of a data repo belongs to, or nil when the path names none: images are
    /// `/<device>-<seconds>.<ext>` (in `/valid/` or `/invalid/` after validation), records `/<device>/…`.
    static func device(ofPath path: String) -> String? {
        let parts = path.split(separator: "/").map(String.init)
        guard let last = parts.last else { return nil }
        if parts.count >= 2, parts[0] != "valid", parts[0] != "invalid" { return parts[0] }
        let name = last.hasSuffix(".reason.json") ? String(last.dropLast(".reason.json".count)) : last
        return try? ImageName.parse(name).device
    }

    private func ruleBook() async throws -> RuleBook? {
        guard let head = try await store.resolveCommit(rulesRepo, ref: nil) else { return nil }
        return try await cache.book(tree: head.tree.hash) {
            var files: [(name: String, text: String)] = []
            var folders = ["/"]
            while let folder = folders.popLast() {
                for entry in try await store.list(Address(repo: rulesRepo, ref: head.id, path: folder)) {
                    let path = (folder == "/" ? "/" : folder + "/") + entry.name
                    if entry.kind == .directory {
                        folders.append(path)
                    } else if RuleBookCache.isRuleFile(entry.name) {
                        let data = try await store.blobs.get(entry.hash)
                        files.append((String(path.dropFirst()), String(decoding: data, as: UTF8.self)))
                    }
                }
            }
            return files
        }
    }
}
