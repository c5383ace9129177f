/// A database file that other processes write too, with a count that moves only when one of them commits: how
/// the data folder's change feed tells another process's write from this process's own (the kernel reports
/// both alike).
public protocol CommitsByOthers: Sendable {
    /// A number that changes each time another process commits to the database, and never for this process's
    /// own commits.
    func commitsByOthers() async throws -> Int
}
