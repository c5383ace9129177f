#if canImport(Glibc)
    import Glibc
#endif

/// The process's open-file limit, raised for a server: each connection is a descriptor, and the usual soft
/// limit (1,024) would refuse connections long before `--max-connections`.
enum OpenFileLimit {
    /// Descriptors kept for what is not a connection: the databases, blobs being read and written, workers.
    static let reserve: UInt = 256

    /// Raises the soft limit as far as the hard limit allows for `connections`; a warning when it cannot.
    static func raise(toServe connections: Int) -> String? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        let wanted = rlim_t(connections) + rlim_t(reserve)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = min(wanted, limit.rlim_max)
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        guard limit.rlim_cur < wanted else { return nil }
        return "the open-file limit is \(limit.rlim_cur) (hard \(limit.rlim_max)), below --max-connections "
            + "\(connections) plus \(reserve) for the rest: raise it (ulimit -n, LimitNOFILE=) or lower --max-connections"
    }
}
