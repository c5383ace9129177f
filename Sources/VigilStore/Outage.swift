import Foundation
import GRDB

/// Tells an error of the infrastructure (object storage unreachable, the disk full or failing, the database
/// busy or gone) from an error about the data. Work that meets an outage waits and tries again; only an error
/// about the data itself may fail a datum or an alert. The backends own the knowledge of their errors.
public enum Outage {
    /// Whether `error` says something Vigil depends on is unavailable, rather than that the work is wrong.
    public static func isOutage(_ error: any Error) -> Bool {
        switch error {
        case let error as VigilError:
            switch error.code {
            case .io, .diskFull, .s3Unreachable, .s3AccessDenied, .s3BucketNotFound, .s3Error, .databaseUnavailable:
                return true
            default: return false
            }
        case let error as DatabaseError:
            return [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_CANTOPEN, .SQLITE_PROTOCOL]
                .contains(error.resultCode)
        case let error as CocoaError:
            if [.fileWriteOutOfSpace, .fileWriteVolumeReadOnly].contains(error.code) { return true }
            return (error.userInfo[NSUnderlyingErrorKey] as? any Error).map(isOutage) ?? false
        case let error as POSIXError:
            return isOutage(errno: error.code.rawValue)
        default:
            let error = error as NSError
            if error.domain == NSPOSIXErrorDomain { return isOutage(errno: Int32(error.code)) }
            return false
        }
    }

    /// Whether `error` says the disk (or a quota) is full: the one outage a person must act on.
    public static func isDiskFull(_ error: any Error) -> Bool {
        switch error {
        case let error as VigilError: return error.code == .diskFull
        case let error as DatabaseError: return error.resultCode == .SQLITE_FULL
        case let error as CocoaError:
            if error.code == .fileWriteOutOfSpace { return true }
            return (error.userInfo[NSUnderlyingErrorKey] as? any Error).map(isDiskFull) ?? false
        case let error as POSIXError: return error.code == .ENOSPC || error.code == .EDQUOT
        default:
            let error = error as NSError
            return error.domain == NSPOSIXErrorDomain && [ENOSPC, EDQUOT].contains(Int32(error.code))
        }
    }

    /// The errno values that mean the machine, not the work, is at fault.
    public static func isOutage(errno code: Int32) -> Bool {
        [ENOSPC, EDQUOT, EIO, EROFS, ENFILE, EMFILE, ENOMEM].contains(code)
    }
}

/// Exponential backoff with equal jitter, for waiting out an outage.
public struct Backoff: Sendable, Hashable {
    public var base: Double
    public var maximum: Double

    public init(base: Double, maximum: Double) {
        self.base = base
        self.maximum = maximum
    }

    /// Seconds to wait before try `attempt + 1`, after `attempt` (1-based) failed.
    public func delay(after attempt: Int, random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) -> Double
    {
        let exponential = min(maximum, base * pow(2, Double(max(0, min(attempt, 60) - 1))))
        return exponential / 2 + random(0...(exponential / 2))
    }
}
