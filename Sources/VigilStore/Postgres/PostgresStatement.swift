import PostgresNIO

/// A statement written as an interpolated string, like postgres-nio's `PostgresQuery`, that can also run as a
/// prepared statement (`PostgresPreparedStatements`): besides the binds it keeps every parameter's SQL type and
/// its value as a SQL literal, because `EXECUTE` takes its arguments as literals (a `$n` bind in them is refused
/// over the extended protocol).
public struct PostgresStatement: ExpressibleByStringInterpolation, Sendable {
    /// The text, with `$1`…`$n` for the parameters.
    public private(set) var sql = ""
    /// Each parameter's SQL type, in order.
    private(set) var types: [String] = []
    /// Each parameter's value as a SQL literal, in order.
    private(set) var literals: [String] = []
    private var binds = PostgresBindings()

    public init(stringLiteral value: String) {
        sql = value
    }

    public init(stringInterpolation: StringInterpolation) {
        self = stringInterpolation.statement
    }

    /// The statement as an ordinary query, its parameters bound.
    public var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }

    public struct StringInterpolation: StringInterpolationProtocol {
        fileprivate var statement = PostgresStatement(stringLiteral: "")

        public init(literalCapacity: Int, interpolationCount: Int) {}

        public mutating func appendLiteral(_ literal: String) {
            statement.sql += literal
        }

        public mutating func appendInterpolation(unescaped text: String) {
            statement.sql += text
        }

        public mutating func appendInterpolation<Value: PostgresNonThrowingEncodable & PostgresLiteral>(
            _ value: Value?
        ) {
            statement.types.append(Value.sqlType)
            statement.literals.append(value.map { "\($0.sqlLiteral)::\(Value.sqlType)" } ?? "NULL")
            statement.binds.append(value)
            statement.sql += "$\(statement.types.count)"
        }
    }
}

/// A value that can be written into SQL text as a literal, safely: strings as escape strings (`E'…'`, whose
/// meaning does not depend on the server's `standard_conforming_strings`), numbers as quoted text.
public protocol PostgresLiteral {
    static var sqlType: String { get }
    var sqlLiteral: String { get }
}

extension String: PostgresLiteral {
    public static var sqlType: String { "text" }

    public var sqlLiteral: String {
        var escaped = "E'"
        for character in unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "'": escaped += "''"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped + "'"
    }
}

extension Double: PostgresLiteral {
    public static var sqlType: String { "double precision" }
    // Swift's description is the shortest text that reads back as exactly this double; "nan" and "inf" are
    // spellings PostgreSQL reads too.
    public var sqlLiteral: String { "'\(self)'" }
}

extension Int64: PostgresLiteral {
    public static var sqlType: String { "bigint" }
    public var sqlLiteral: String { "'\(self)'" }
}

extension Int: PostgresLiteral {
    public static var sqlType: String { "bigint" }
    public var sqlLiteral: String { "'\(self)'" }
}

extension Array: PostgresLiteral where Element == String {
    public static var sqlType: String { "text[]" }
    public var sqlLiteral: String { "ARRAY[\(map(\.sqlLiteral).joined(separator: ", "))]::text[]" }
}
