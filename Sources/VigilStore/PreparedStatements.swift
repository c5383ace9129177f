import GRDB

extension Database {
    /// A statement of constant SQL, prepared once per connection and kept. On the paths every frame takes,
    /// preparing had cost as much as running (about 4 % of `vigil serve`'s CPU, seen with perf). Constant SQL
    /// only (a `StaticString`), so a connection's cache cannot grow with the values queried.
    public func prepared(_ sql: StaticString) throws -> Statement {
        try cachedStatement(sql: sql.description)
    }
}
