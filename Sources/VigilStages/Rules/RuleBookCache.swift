import Synchronization
import VigilStore

/// The rule book of the latest rules tree, parsed once per tree: the threats stage (per datum) and the HTTP
/// server (which devices a customer owns) both read the current rules and would otherwise parse them per use.
public final class RuleBookCache: Sendable {
    private let cached = Mutex<(tree: BlobHash, book: RuleBook)?>(nil)

    public init() {}

    /// Whether a file of the rules tree is part of the rule book: `.yaml`, `.yml` or `.json`.
    public static func isRuleFile(_ path: String) -> Bool {
        [".yaml", ".yml", ".json"].contains { path.hasSuffix($0) }
    }

    /// The book of the rules tree `tree`; when the tree is new, `load` gives its rule files (name, text) and
    /// they are parsed. A parse failure is the `RuleError` naming the file and field at fault.
    public func book(tree: BlobHash, load: () async throws -> [(name: String, text: String)]) async throws -> RuleBook {
        try await book(tree: tree) { () async throws -> RuleBook in try RuleBookParser.parse(files: try await load()) }
    }

    /// The book of the rules tree `tree`, from its files' customers (`loadParsed`), parsed by the caller.
    public func book(
        tree: BlobHash, loadParsed: () async throws -> [(name: String, customers: [Customer])]
    ) async throws -> RuleBook {
        try await book(tree: tree) { () async throws -> RuleBook in try RuleBookParser.book(try await loadParsed()) }
    }

    private func book(tree: BlobHash, make: () async throws -> RuleBook) async throws -> RuleBook {
        if let cached = cached.withLock({ $0 }), cached.tree == tree { return cached.book }
        let book = try await make()
        cached.withLock { $0 = (tree, book) }
        return book
    }
}
