import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Tracing
import VigilStages
import VigilStore

/// Delivers every new threat record to the alert API, exactly once per contact as far as the receiver can
/// tell: each delivery carries an idempotency key that stays the same across retries and restarts, so a
/// resend after a crash is dropped by the receiver. Failed attempts are retried with backoff behind a circuit
/// breaker, for as long as the retry horizon (a day by default): an outage of the API delays alerts, and when
/// it answers again everything that waited goes at once. When nobody acknowledges in time the next contact is
/// told, delivered or not. Only a refusal (4xx) or age puts a delivery on the dead-letter list.
///
/// Event-driven like the engine: a commit to the threats repo in this process arrives through the store's
/// commit feed, other processes' commits and `vigil alerts retry` through the change feed, and
/// retries and escalations wake a timer. Nothing polls.
public final class Notifier: Service, Sendable {
    public let store: VersionedStore
    public let database: any AlertStore
    public let transport: any AlertTransport
    public let configuration: NotifierConfiguration
    public let breaker: CircuitBreaker
    let clock: any AlertClock
    let logger: Logger
    /// Where other processes' commits and alert changes are heard of (nil: this process only).
    let changeFeed: (any ChangeFeed)?
    private let stopping = Atomic<Bool>(false)
    /// Set by a failed attempt: the next success means the API answers again, and what waited for it goes out
    /// at once. (At start the loop does that anyway.)
    private let unwell = Atomic<Bool>(false)
    /// What happened since the loop last looked, and the bell that tells it to look (see `Signals`).
    private let signals = Mutex(Signals())
    private let doorbell = Mutex<AsyncStream<Void>.Continuation?>(nil)
    /// The cursor where this notifier's last ingest moved it, so that the next pass does not read it again; nil
    /// when not known: before the first ingest, after one that did not move it (another notifier had), and
    /// once another process may have (the change feed). Kept stale unheard of (another notifier on a store
    /// without a change feed), it costs a larger diff, never an alert: ids dedup, and that ingest, failing to
    /// move the cursor, forgets it.
    private let keptCursor = Mutex<String?>(nil)
    private let delivered = Counter(label: "vigil_alert_deliveries_total", dimensions: [("outcome", "delivered")])
    private let failed = Counter(label: "vigil_alert_deliveries_total", dimensions: [("outcome", "failed")])
    private let dead = Counter(label: "vigil_alert_deliveries_total", dimensions: [("outcome", "dead")])
    private let ingested = Counter(label: "vigil_alerts_total")
    private let latency = Timer(label: "vigil_alert_delivery_duration_seconds")
    /// How often pending deliveries are looked at for their age (those tried meanwhile expire as they fail).
    static let expiryInterval: TimeInterval = 60

    public init(
        store: VersionedStore, database: any AlertStore, transport: any AlertTransport,
        configuration: NotifierConfiguration = NotifierConfiguration(), clock: any AlertClock = SystemAlertClock(),
        changes: (any ChangeFeed)? = nil, logger: Logger
    ) throws {
        try configuration.validate()
        self.store = store
        self.database = database
        self.transport = transport
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        changeFeed = changes
        breaker = CircuitBreaker(threshold: configuration.breakerThreshold, coolDown: configuration.breakerCoolDown)
    }

    /// Events since the loop last looked. Producers (the commit feed, the folder watcher, timers, finished
    /// deliveries) add to it and ring a bell that holds at most one ring, so a burst of events (a hundred
    /// deliveries finishing) costs the loop one pass, not a hundred.
    struct Signals {
        /// The threats repo may have new commits, or another process changed alerts.
        var threats = true
        /// The threats commits this process published, as the commit feed told them: how many, and the last.
        var announced = 0
        var published: CommitInfo?
        /// Another process changed the threats repo or alerts (the change feed).
        var changedElsewhere = false

        /// The head to ingest to without reading the branch (when it follows the cursor): the one commit
        /// announced, and nothing else heard of. With two, the feed may have told them out of order (their
        /// writers publish after their commits, each on its own task), and the last told is not the newest.
        var onlyAnnounced: CommitInfo? { announced == 1 && !changedElsewhere ? published : nil }
        /// Deliveries that finished (their keys).
        var finished: [String] = []
        /// The API answered after failures.
        var recovered = false
        var stop = false
    }

    private func signal(_ change: (inout Signals) -> Void) {
        signals.withLock { change(&$0) }
        _ = doorbell.withLock { $0?.yield() }
    }

    // MARK: Service

    /// Runs until cancelled or shut down gracefully (deliveries in flight finish and are recorded).
    public func run() async throws {
        try await run(untilIdle: false)
    }

    /// Ingests what is new, delivers until no delivery is pending (retries included; dead letters and
    /// escalations not yet due do not count), and returns.
    public func runUntilIdle() async throws {
        try await run(untilIdle: true)
    }

    /// Asks `run()` to return once the deliveries in flight are recorded.
    public func stopGracefully() {
        stopping.store(true, ordering: .relaxed)
        signal { $0.stop = true }
    }

    private func run(untilIdle: Bool) async throws {
        let (bells, bell) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        doorbell.withLock { $0 = bell }
        defer { doorbell.withLock { $0 = nil } }
        // At start, deliveries that an earlier Vigil gave up for an outage are tried again.
        signal {
            $0.threats = true
            $0.recovered = true
        }
        if stopping.load(ordering: .relaxed) { return }
        let feed = store.commits.subscribe()
        let changeFeed = changeFeed
        let (repo, branch) = (configuration.repo, configuration.branch)
        logger.info(
            "notifier started", metadata: ["repo": "\(repo)@\(branch)", "destination": "\(transport.destination)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { sources in
                sources.addTask {
                    for await commit in feed where commit.repo == repo && commit.branch == branch {
                        self.signal {
                            $0.threats = true
                            $0.announced += 1
                            $0.published = commit
                        }
                    }
                }
                sources.addTask {
                    await changeFeed?.watch { change in
                        switch change {
                        case .repo(let changed) where changed != repo: return
                        case .pipeline: return
                        default:
                            self.signal {
                                $0.threats = true
                                $0.changedElsewhere = true
                            }
                        }
                    }
                }
                var timer = WakeTimer()
                let clock = self.clock
                await withDiscardingTaskGroup { deliveries in
                    await self.loop(bells, untilIdle: untilIdle, deliveries: &deliveries) { deadline in
                        guard timer.wants(deadline, now: clock.now()) else { return }
                        sources.addTask {
                            do {
                                try await clock.sleep(until: deadline)
                                self.signal { _ in }
                            } catch {}
                        }
                    }
                }
                sources.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopGracefully()
        }
        logger.info("notifier stopped")
    }

    /// The notifier's one loop: each time the bell rings, ingest if threats may be new, escalate what is due,
    /// start the deliveries that are due (as far as concurrency and the breaker allow), and set the timer for
    /// the next.
    private func loop(
        _ bells: AsyncStream<Void>, untilIdle: Bool, deliveries: inout DiscardingTaskGroup,
        schedule: (Date) -> Void
    ) async {
        var inFlight: Set<String> = []
        var ingestPending = false
        var nextExpiry = Date.distantPast
        for await _ in bells {
            let news = signals.withLock { signals in
                defer { signals = Signals(threats: false) }
                return signals
            }
            if news.stop || stopping.load(ordering: .relaxed) { return }
            if news.changedElsewhere { keptCursor.withLock { $0 = nil } }
            ingestPending = ingestPending || news.threats
            inFlight.subtract(news.finished)
            do {
                if ingestPending {
                    ingestPending = false
                    // A new alert's first delivery is claimed as it is added and starts at once: the rest of the
                    // pass (escalations, other due deliveries) goes on beside it.
                    // Only while the breaker is closed: a probe stays with the oldest due delivery (`startable`).
                    let room = configuration.concurrency - inFlight.count
                    let closed = if case .closed = breaker.current { true } else { false }
                    let claim = DeliveryClaim(lease: configuration.claimLease, limit: closed ? room : 0)
                    for (delivery, alert) in try await ingest(claiming: claim, published: news.onlyAnnounced) {
                        start(delivery, of: alert, inFlight: &inFlight, deliveries: &deliveries)
                    }
                }
                if news.recovered {
                    let revived = try await database.resumeAfterOutage(at: clock.now(), retry: configuration.retry)
                    logger.info(
                        "the alert API answers again: waiting deliveries go now",
                        metadata: ["revived_dead": "\(revived)"])
                }
                let now = clock.now()
                // Age is a slow deadline: looked at once a minute at most, not on every pass of a busy loop.
                let expired: Int
                if now >= nextExpiry {
                    nextExpiry = now.addingTimeInterval(Self.expiryInterval)
                    expired = try await database.expire(at: now, retry: configuration.retry)
                } else {
                    expired = 0
                }
                if expired > 0 {
                    dead.increment(by: expired)
                    logger.error(
                        "alert deliveries expired: not delivered within the horizon",
                        metadata: ["count": "\(expired)", "horizon_s": "\(configuration.retry.horizon)"])
                }
                for alert in try await database.escalate(at: now) {
                    logger.info(
                        "escalating: nobody acknowledged in time",
                        metadata: ["alert": "\(alert.id)", "contact": "\(alert.record.contacts[alert.level].name)"])
                }
                for (delivery, alert) in try await startable(now: now, inFlight: inFlight, schedule: schedule) {
                    start(delivery, of: alert, inFlight: &inFlight, deliveries: &deliveries)
                }
                if let next = try await database.nextDue(after: now) { schedule(next) }
                if untilIdle, inFlight.isEmpty, try await database.pendingCount() == 0 { return }
            } catch {
                // The database or the store unreachable: say so and try again shortly; alerts stay where they are.
                logger.error("notifier step failed; retrying in 1 s", metadata: ["error": "\(error)"])
                ingestPending = true
                schedule(clock.now().addingTimeInterval(1))
            }
        }
    }

    /// Sends a claimed delivery in a task of its own; the loop hears when it is done.
    private func start(
        _ delivery: DeliveryInfo, of alert: AlertInfo, inFlight: inout Set<String>,
        deliveries: inout DiscardingTaskGroup
    ) {
        inFlight.insert(delivery.idempotencyKey)
        deliveries.addTask {
            await self.deliver(delivery, of: alert)
            self.signal { $0.finished.append(delivery.idempotencyKey) }
        }
    }

    /// The due deliveries that may start now, claimed for this notifier: as many as concurrency leaves room
    /// for, one probe while the circuit is half-open, none while it is open (the timer is set for when it
    /// half-opens).
    private func startable(
        now: Date, inFlight: Set<String>, schedule: (Date) -> Void
    ) async throws -> [(
        DeliveryInfo, AlertInfo
    )] {
        let room = configuration.concurrency - inFlight.count
        guard room > 0 else { return [] }
        let permit = breaker.permit(at: now)
        let limit: Int
        switch permit {
        case .send: limit = room
        case .probe: limit = 1
        case .wait(let until):
            schedule(until)
            return []
        }
        do {
            let claimed = try await database.claimDue(
                at: now, lease: configuration.claimLease, excluding: inFlight, limit: limit)
            if claimed.isEmpty, permit == .probe { breaker.returnProbe() }
            return claimed
        } catch {
            if permit == .probe { breaker.returnProbe() }
            throw error
        }
    }

    // MARK: Ingest

    typealias Claimed = (delivery: DeliveryInfo, alert: AlertInfo)

    /// Turns the threat records added since the cursor into alerts: the diff from the last ingested commit to
    /// the branch head, so the cost follows what is new, not the repo's size. Returns the new deliveries it
    /// claimed (`claim`). `published`: a commit this process published on the branch, the only news since the
    /// last pass (`Signals.onlyAnnounced`); the head when it follows the cursor, else the branch is read (a
    /// commit behind the cursor: the cursor never moves back).
    @discardableResult
    func ingest(claiming claim: DeliveryClaim = .nothing, published: CommitInfo? = nil) async throws -> [Claimed] {
        let (repo, branch) = (configuration.repo, configuration.branch)
        let cursor: String?
        if let kept = keptCursor.withLock({ $0 }) {
            cursor = kept
        } else {
            cursor = try await database.cursor(of: repo)
        }
        let head: CommitInfo?
        if let published, published.repo == repo, published.branch == branch, published.parent == cursor {
            head = published
        } else {
            do {
                head = try await store.resolveCommit(repo, ref: branch)
            } catch let error as VigilError where error.code == .repoNotFound || error.code == .branchNotFound {
                logger.debug("no threats yet", metadata: ["repo": "\(repo)@\(branch)"])
                return []
            }
        }
        guard let head, cursor != head.id else { return [] }
        // A cursor whose commit is gone (the repo was made anew) reads everything again: ids dedup.
        var base = TreeStore.emptyHash
        if let cursor, let commit = try await store.commit(id: cursor) { base = commit.tree.hash }
        let changes = try await store.trees.diff(from: base, to: head.tree.hash)
        var threats: [(record: ThreatRecord, address: String)] = []
        let decoder = JSONDecoder()
        for change in changes where change.change != .removed && change.path.hasSuffix(".json") {
            guard let value = change.new else { continue }
            let address = "\(repo)@\(head.id):\(change.path)"
            do {
                threats.append(
                    (try decoder.decode(ThreatRecord.self, from: try await store.blobs.get(value.hash)), address))
            } catch {
                // One unreadable record must not hold back the others; it is reported, not alerted.
                logger.error("not a threat record; skipped", metadata: ["record": "\(address)", "error": "\(error)"])
            }
        }
        let traces = await Self.traces(of: threats.map(\.address), from: head, back: cursor, store: store)
        // Forgotten while the transaction runs: a failure may leave the cursor either way.
        keptCursor.withLock { $0 = nil }
        let result = try await database.ingest(
            threats, traces: traces.mapValues(\.headers), repo: repo, from: cursor, to: head.id, now: clock.now(),
            claiming: claim)
        if result.movedCursor { keptCursor.withLock { $0 = head.id } }
        let added = result.added
        for alert in added {
            guard let trace = traces[alert.threat] else { continue }
            // The frame's wait from the threat's commit to its alert.
            let span = startSpan("queued alert", at: WallClockInstant(trace.committed), context: trace.headers.context)
            span.attributes["vigil.alert"] = alert.id
            span.end()
        }
        ingested.increment(by: added.count)
        if !added.isEmpty {
            logger.info("new alerts", metadata: ["count": "\(added.count)", "commit": "\(repo)@\(head.id)"])
        }
        return result.claimed
    }

    /// The traces of the threats at `addresses` (`repo@head:/path`), by address: read from the commits from
    /// `head` back to `cursor`. Empty when tracing is off.
    static func traces(
        of addresses: [String], from head: CommitInfo, back cursor: String?, store: VersionedStore
    ) async -> [String: CommittedTrace] {
        guard !addresses.isEmpty else { return [:] }
        let byPath = await store.traces(from: head, back: cursor)
        let prefix = "\(head.repo)@\(head.id):"
        var found: [String: CommittedTrace] = [:]
        for address in addresses where address.hasPrefix(prefix) {
            if let trace = byPath[String(address.dropFirst(prefix.count))] { found[address] = trace }
        }
        return found
    }

    // MARK: Delivery

    private func deliver(_ delivery: DeliveryInfo, of alert: AlertInfo) async {
        guard let trace = alert.trace else { return await send(delivery, of: alert) }
        await withSpan("deliver", context: trace.context, ofKind: .producer) { span in
            span.attributes["vigil.alert"] = alert.id
            span.attributes["vigil.contact"] = delivery.contact
            span.attributes["vigil.attempt"] = delivery.attempts + 1
            await send(delivery, of: alert)
        }
    }

    private func send(_ delivery: DeliveryInfo, of alert: AlertInfo) async {
        let started = DispatchTime.now()
        let outcome: DeliveryOutcome
        do {
            let payload = AlertPayload(alert: alert, level: delivery.level, image: try await image(of: alert))
            outcome = await transport.send(
                OutgoingAlert(
                    idempotencyKey: delivery.idempotencyKey, body: try payload.encoded(),
                    attempt: delivery.attempts + 1))
        } catch {
            outcome = .failed(status: nil, reason: "cannot build the alert: \(error)", retryAfter: nil)
        }
        let now = clock.now()
        var metadata: Logger.Metadata = [
            "alert": "\(alert.id)", "contact": "\(delivery.contact)", "attempt": "\(delivery.attempts + 1)",
        ]
        switch outcome {
        case .delivered:
            breaker.recordSuccess()
            if unwell.exchange(false, ordering: .relaxed) { signal { $0.recovered = true } }
            delivered.increment()
            latency.recordInterval(since: started)
            logger.info("alert delivered", metadata: metadata)
        case .failed(_, let reason, _):
            breaker.recordFailure(at: now)
            unwell.store(true, ordering: .relaxed)
            metadata["reason"] = "\(reason)"
        case .rejected(_, let reason):
            // The API answered, so it is up: a refusal is about this alert, not the circuit.
            breaker.recordSuccess()
            metadata["reason"] = "\(reason)"
        }
        do {
            let state = try await database.record(
                outcome, for: delivery.idempotencyKey, at: now, retry: configuration.retry)
            switch (outcome, state) {
            case (.delivered, _), (_, nil): break
            case (_, .dead?):
                dead.increment()
                logger.error("alert delivery given up: dead letter", metadata: metadata)
            default:
                failed.increment()
                logger.warning("alert delivery failed; will retry", metadata: metadata)
            }
        } catch {
            // Unrecorded, it stays pending and goes again under the same key: the receiver drops the repeat.
            logger.error(
                "cannot record a delivery; it will be sent again",
                metadata: ["alert": "\(alert.id)", "error": "\(error)"])
        }
    }

    /// The image as the payload shows it: its address in the threats repo, a link when configured, the bytes
    /// when inline.
    private func image(of alert: AlertInfo) async throws -> AlertPayload.Image {
        let record = alert.record
        let threat = try Address.parse(alert.threat)
        let commit = threat.ref ?? configuration.branch
        var image = AlertPayload.Image(
            name: record.image.name, width: record.image.width, height: record.image.height, bytes: record.image.bytes,
            sha256: record.image.sha256, address: "\(threat.repo)@\(commit):\(record.imagePath)")
        image.url = configuration.imageURL.map {
            $0.replacingOccurrences(of: "{repo}", with: threat.repo).replacingOccurrences(of: "{commit}", with: commit)
                .replacingOccurrences(of: "{path}", with: record.imagePath)
        }
        if configuration.image == .inline {
            guard let hash = BlobHash(hex: record.image.sha256) else {
                throw AlertError(
                    .badThreat, "the threat record names a malformed image hash", value: record.image.sha256)
            }
            image.base64 = try await store.blobs.get(hash).base64EncodedString()
            image.contentType = record.image.name.lowercased().hasSuffix(".png") ? "image/png" : "image/jpeg"
        }
        return image
    }
}

extension Notifier {
    /// Which deadlines need a sleeping task to wake the loop: one that comes earlier than any set before (or
    /// after that one passed), so setting the same or a later time again starts nothing.
    struct WakeTimer {
        private var earliest: Date?

        mutating func wants(_ deadline: Date, now: Date) -> Bool {
            if let earliest, earliest <= deadline, earliest > now { return false }
            earliest = deadline
            return true
        }
    }
}
