import Crypto
import Foundation
import VigilStore

/// `X-Vigil-Signature: sha256=<hex>`: the HMAC-SHA256 of the exact request body under the secret the notifier
/// and the alert API share, so the receiver knows the alert came from Vigil and was not altered.
public struct AlertSignature: Sendable {
    public static let header = "X-Vigil-Signature"
    /// The secret's bytes (a `SymmetricKey` is made per use: it is not `Sendable`).
    private let secret: Data

    /// A secret of at least 16 bytes (shorter ones are guessable); surrounding white space is not part of it.
    public init(secret text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.utf8.count >= 16 else {
            throw AlertError(
                .badConfiguration,
                "the alert signing secret has \(trimmed.utf8.count) bytes; use at least 16 (e.g. `openssl rand -hex 32`)"
            )
        }
        secret = Data(trimmed.utf8)
    }

    /// The header value for `body`.
    public func sign(_ body: Data) -> String {
        "sha256=" + Hex.lowercase(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret)))
    }

    /// Whether `header` is the signature of `body` (compared in constant time).
    public func verify(_ body: Data, header: String?) -> Bool {
        guard let header, header.hasPrefix("sha256="), let mac = Self.bytes(hex: header.dropFirst(7)) else {
            return false
        }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: SymmetricKey(data: secret))
    }

    private static func bytes(hex: Substring) -> Data? {
        guard hex.utf8.count == 64 else { return nil }
        var out = Data(capacity: 32)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}
