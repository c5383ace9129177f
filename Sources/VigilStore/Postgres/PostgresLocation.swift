import Foundation

/// Where a PostgreSQL database is: `postgres://USER@HOST:PORT/DATABASE`, with optional settings after `?`:
/// `sslmode` (`disable`, `prefer`, the default, or `require`), `pool` (most connections this process opens,
/// default 10), `timeout` (seconds a query may take before it fails, default 10), `connect_timeout` (seconds
/// getting a connection may take, opening one included; default: `timeout`) and `passwordFile`.
///
/// The URL may be recorded in `config.json` and shows up in logs, so it never carries the password: that comes
/// from `PGPASSWORD`, or from the file `passwordFile` (or `VIGIL_DATABASE_PASSWORD_FILE`) names.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var tls: TLSMode = .prefer
    public var poolSize = 10
    public var queryTimeout: Duration = .seconds(10)
    /// How long getting a connection may take (nil: the query timeout). Opening one is a TCP handshake and an
    /// authentication, which a busy server may take longer for than a short query timeout allows.
    public var connectTimeout: Duration?
    public var connectionTimeout: Duration { connectTimeout ?? queryTimeout }
    public var passwordFile: String?

    public init(host: String, port: Int = 5432, user: String, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
    }

    /// Whether `text` names a PostgreSQL database (rather than, one day, something else).
    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public static func parse(_ text: String) throws -> PostgresLocation {
        func bad(_ problem: String) -> VigilError {
            VigilError(
                .badConfiguration,
                "'\(redacted(text))' is not a usable database URL: \(problem); "
                    + "write it as postgres://USER@HOST:PORT/DATABASE",
                value: redacted(text))
        }
        guard isPostgresURL(text), let url = URLComponents(string: text) else {
            throw bad("it must start with postgres:// and be a valid URL")
        }
        if url.password != nil {
            throw bad(
                "it holds a password, which would be recorded and logged; set PGPASSWORD or "
                    + "?passwordFile=PATH instead")
        }
        guard let user = url.user, !user.isEmpty else { throw bad("it names no user (USER@ before the host)") }
        guard let host = url.host, !host.isEmpty else { throw bad("it names no host") }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw bad("it names no database (/DATABASE)") }
        var location = PostgresLocation(host: host, port: url.port ?? 5432, user: user, database: database)
        guard (1...65535).contains(location.port) else { throw bad("the port must be 1-65535") }
        for item in url.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw bad("sslmode must be one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                location.tls = mode
            case "pool":
                guard let size = Int(value), (1...500).contains(size) else {
                    throw bad("pool must be a whole number of connections, 1-500")
                }
                location.poolSize = size
            case "timeout":
                guard let seconds = Double(value), seconds > 0, seconds <= 3600 else {
                    throw bad("timeout must be a number of seconds, more than 0 and at most 3600")
                }
                location.queryTimeout = .milliseconds(Int64(seconds * 1000))
            case "connect_timeout":
                guard let seconds = Double(value), seconds > 0, seconds <= 3600 else {
                    throw bad("connect_timeout must be a number of seconds, more than 0 and at most 3600")
                }
                location.connectTimeout = .milliseconds(Int64(seconds * 1000))
            case "passwordFile":
                guard value.hasPrefix("/") else { throw bad("passwordFile must be an absolute path") }
                location.passwordFile = value
            default:
                throw bad(
                    "it has an unknown setting '\(item.name)' (known: sslmode, pool, timeout, connect_timeout, "
                        + "passwordFile)")
            }
        }
        return location
    }

    /// The password: `PGPASSWORD`, else the first line of `passwordFile` or of `VIGIL_DATABASE_PASSWORD_FILE`;
    /// nil when none is given (the server may trust the connection).
    public func password(environment: [String: String]) throws -> String? {
        if let password = environment["PGPASSWORD"], !password.isEmpty { return password }
        guard let file = passwordFile ?? environment["VIGIL_DATABASE_PASSWORD_FILE"].flatMap({ $0.isEmpty ? nil : $0 })
        else { return nil }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw VigilError(
                .badConfiguration, "cannot read the database password file '\(file)'; check the path and its rights",
                value: file)
        }
        return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
    }

    public var description: String {
        "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }

    /// `text` with any password between `:` and `@` replaced, so an error never repeats a secret.
    public static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "REDACTED"
        return url.string ?? "a database URL"
    }
}
