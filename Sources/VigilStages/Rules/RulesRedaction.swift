import Foundation
import VigilStore

/// Erasing a customer from the rules repo's history. Every rules version holds every customer's name and
/// contacts in a few shared files, and the rules' history is what says who owned which camera when (access,
/// retention and holds follow it), so those versions cannot simply go. An erasure of a customer takes each
/// rules file version that names it and keeps a remainder (`RuleFileRemainder`): the same customers, the
/// erased ones without their names and contacts. `RuleHistory` reads the remainder in place of the erased
/// bytes, so ownership stays as it was; reading the version itself answers `erased`.
///
/// The versions in force (at a branch head) are not taken: the threats stage alerts from them. A customer
/// still named there keeps its contacts there until it is removed from the rules; erasing it again then
/// takes the versions before.
public struct RulesRedaction: Sendable {
    public let store: VersionedStore
    public let repo: String
    private let history: RuleHistory

    public init(store: VersionedStore, repo: String) {
        self.store = store
        self.repo = repo
        history = RuleHistory(store: store, repo: repo)
    }

    /// Adds to `selection` every past version of every rules file that names one of `customers` with its name
    /// or contacts, each keeping its remainder. Returns those of `customers` the rules in force still name.
    public func add(customers: Set<String>, to selection: inout ErasureSelection) async throws -> Set<String> {
        guard !customers.isEmpty, try await store.metadata.repo(named: repo) != nil else { return [] }
        var inForce: Set<String> = []
        var named: Set<String> = []
        for branch in try await store.metadata.branches(in: repo) {
            guard let head = try await store.resolveCommit(repo, ref: branch.name) else { continue }
            for file in try await history.ruleFiles(of: head) {
                inForce.insert(Self.key(file.path, file.hash))
                guard case .text(let text) = try? await history.content(of: file.path, hash: file.hash) else {
                    continue
                }
                let ids = (try? RuleBookParser.parse(text))?.map(\.id) ?? []
                named.formUnion(customers.intersection(ids))
            }
        }
        var seen: Set<String> = []
        for commit in try await store.metadata.allCommits(in: repo) {
            for file in try await history.ruleFiles(of: commit) {
                let key = Self.key(file.path, file.hash)
                guard !inForce.contains(key), seen.insert(key).inserted else { continue }
                switch try await redacted(path: file.path, hash: file.hash, customers: customers) {
                case .none: continue
                case .whole: selection.take(repo, file.path, hash: file.hash)
                case .keeping(let remainder): selection.take(repo, file.path, hash: file.hash, keeping: remainder)
                }
            }
        }
        return named
    }

    private enum Outcome {
        /// Names none of the customers (or names them only as already redacted).
        case none
        /// Does not parse but mentions a customer: taken without a remainder (a version that does not parse
        /// judged nothing, so history readers pass over it anyway).
        case whole
        case keeping(Data)
    }

    private func redacted(path: String, hash: BlobHash, customers: Set<String>) async throws -> Outcome {
        let parsed: [Customer]
        switch try await history.content(of: path, hash: hash) {
        case .erasedWhole: return .none
        // An earlier erasure took it: redact what it kept.
        case .kept(let customers): parsed = customers
        case .text(let text):
            do {
                parsed = try RuleBookParser.parse(text, file: path)
            } catch {
                return customers.contains { Self.mentions(text, id: $0) } ? .whole : .none
            }
        }
        guard parsed.contains(where: { customers.contains($0.id) && !RuleFileRemainder.isRedacted($0) }) else {
            return .none
        }
        return .keeping(try RuleFileRemainder(customers: parsed, erasing: customers).encoded())
    }

    private static func key(_ path: String, _ hash: BlobHash) -> String { "\(path)\u{0}\(hash.hex)" }

    /// Whether `text` names the customer `id` as a whole word (ids are letters, digits, `_` and `-`), not as
    /// part of a longer one.
    static func mentions(_ text: String, id: String) -> Bool {
        let isIDCharacter: (Character) -> Bool = { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        var rest = text[...]
        while let found = rest.range(of: id) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            if !(before.map(isIDCharacter) ?? false), !(after.map(isIDCharacter) ?? false) { return true }
            rest = text[found.upperBound...]
        }
        return false
    }
}
