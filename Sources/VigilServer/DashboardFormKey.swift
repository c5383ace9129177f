import Crypto
import Foundation

/// The key the dashboard's forms carry (`?form=` in their action) so that the session cookie may change
/// something: a keyed hash of the signed-in token, which only a page the service rendered for that token
/// knows. A page on another site can make a browser post a form to the service, cookie and all, but cannot
/// read the dashboard to learn the key; and the key says nothing of the token.
enum DashboardFormKey {
    /// The form key of `token`.
    static func value(for token: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Data("vigil dashboard form".utf8), using: SymmetricKey(data: Data(token.utf8)))
        return code.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `presented` is `token`'s form key (compared in constant time).
    static func matches(_ presented: String?, token: String) -> Bool {
        guard let presented else { return false }
        let expected = Array(value(for: token).utf8)
        let given = Array(presented.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
