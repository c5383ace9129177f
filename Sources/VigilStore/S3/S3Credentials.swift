import Foundation

/// An access key pair (and an STS session token, if any). `description` shows the key id, never the secret.
public struct S3Credentials: Sendable, CustomStringConvertible {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
    }

    public var description: String { "S3Credentials(\(accessKey), secret redacted)" }

    /// The same sources and order as the AWS CLI, minus instance roles: `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else the `AWS_PROFILE` (or `default`) section of the
    /// shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`).
    public static func resolve(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws
        -> S3Credentials
    {
        if let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        {
            return S3Credentials(accessKey: key, secretKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
        }
        let profile = environment["AWS_PROFILE"] ?? "default"
        let path =
            environment["AWS_SHARED_CREDENTIALS_FILE"]
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.aws/credentials")
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
            let section = parseINI(text)[profile],
            let key = section["aws_access_key_id"], let secret = section["aws_secret_access_key"]
        {
            return S3Credentials(accessKey: key, secretKey: secret, sessionToken: section["aws_session_token"])
        }
        throw VigilError(
            .badConfiguration,
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add a [\(profile)] section to \(path)",
            value: profile)
    }

    /// `[section]` headers and `name = value` lines; `#` and `;` start comments.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            sections[current, default: [:]][name] = line[line.index(after: equals)...]
                .trimmingCharacters(in: .whitespaces)
        }
        return sections
    }
}
