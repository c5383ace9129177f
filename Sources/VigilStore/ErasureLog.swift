import Foundation

/// One erasure: whose bytes went, who asked, when and why. The commits and trees that named those bytes stay
/// exactly as they were (their hashes, and so provenance, cannot change); this record beside them says why the
/// blobs are gone, so that reads answer `erased` and fsck reports erased entries rather than corruption.
public struct ErasureInfo: Sendable, Hashable, Codable {
    public var id: String
    public var time: Date
    /// Who asked: a token's name and role, or the user running the command.
    public var requester: String
    public var reason: String
    /// What was asked for, as given (`--device frontdoor`).
    public var selection: String

    public init(id: String, time: Date, requester: String, reason: String, selection: String) {
        self.id = id
        self.time = time
        self.requester = requester
        self.reason = reason
        self.selection = selection
    }
}

/// A file whose bytes an erasure took: a path of a repo holding `hash`, in any commit.
public struct ErasedEntry: Sendable, Hashable, Codable {
    public var repo: String
    public var path: String
    public var hash: BlobHash
    public var size: Int64
    /// What is kept of the file when only part of it was personal data (a rules file without one customer's
    /// name and contacts), for the readers of history that need the rest; nil: nothing is kept. Never listed
    /// (not encoded): it is read only through `ErasureLog.remainder`.
    public var remainder: Data?

    public init(repo: String, path: String, hash: BlobHash, size: Int64, remainder: Data? = nil) {
        self.repo = repo
        self.path = path
        self.hash = hash
        self.size = size
        self.remainder = remainder
    }

    private enum CodingKeys: String, CodingKey {
        case repo, path, hash, size
    }
}

/// The record of erasures, kept with the metadata it qualifies (SQLite or PostgreSQL); every implementation
/// passes the metadata conformance suite. Erasure records outlive the repos they name.
public protocol ErasureLog: Sendable {
    /// Records `erasure` and its entries in one transaction. An entry an earlier erasure took keeps that one,
    /// and takes the new entry's remainder when it has one (a second customer erased from the same rules file
    /// is redacted from what the first erasure left).
    func recordErasure(_ erasure: ErasureInfo, entries: [ErasedEntry]) async throws
    /// The erasure that took the bytes `hash` at `path` of `repo`; nil when none did.
    func erasure(repo: String, path: String, hash: BlobHash) async throws -> ErasureInfo?
    /// Whether an erasure took `hash` at some path: a blob missing for that reason is not corruption.
    func isErased(_ hash: BlobHash) async throws -> Bool
    /// Every erasure, newest first, with how many entries each took.
    func erasures() async throws -> [(erasure: ErasureInfo, entries: Int)]
    /// What an erasure kept of the file `hash` at `path` of `repo` (`ErasedEntry.remainder`); nil when it kept
    /// nothing or none took it.
    func remainder(repo: String, path: String, hash: BlobHash) async throws -> Data?
    /// How many erasures were ever recorded: a process holding decoded frames drops them when this moves.
    func erasureCount() async throws -> Int
}
