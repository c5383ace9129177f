import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import VigilAccess
import VigilAlerts
import VigilPipeline
import VigilStages
import VigilStore

/// `GET /`: the dashboard, rendered on the server. The bar charts, the recent alerts with their images, and
/// (for admins and operators) pipeline and job health. A customer sees only its own devices. Sign-in posts a
/// token from a form (`POST /sign-in`: never in an address, where history and logs would keep it), which
/// becomes an HttpOnly, SameSite=Lax cookie, `Secure` when the service's public URL is HTTPS; `/logout`
/// clears it. Each alert has its verdict buttons: one click posts `POST /verdict` (with the page's form key,
/// `DashboardFormKey`) and comes back to the page.
struct DashboardRoutes {
    let environment: ServerEnvironment
    let stats: StatsRoutes
    let pipelines: PipelineRoutes
    let alerts: AlertRoutes
    let verdicts: VerdictRoutes

    func add(to router: Router<VigilRequestContext>) {
        router.get("/") { request, context in try await page(request, context: context) }
        router.post("/verdict") { request, context in try await judge(request, context: context) }
        router.post("/sign-in") { request, _ in try await signIn(request) }
        router.get("/logout") { _, _ in
            var response = Self.redirect("/")
            response.setCookie(cookie(value: "", maxAge: 0))
            return response
        }
    }

    /// The session cookie: HttpOnly (no script reads it), Secure when the service is reached over HTTPS, and
    /// SameSite=Lax: another site's page can only make a browser send it on a plain top-level GET (following
    /// a link from an alert email keeps the user signed in), and the cookie is accepted on GET and HEAD only,
    /// which change nothing.
    private func cookie(value: String, maxAge: Int? = nil) -> Cookie {
        .init(
            name: AccessMiddleware.cookie, value: value, maxAge: maxAge, path: "/",
            secure: environment.configuration.publicURL?.scheme == "https", httpOnly: true, sameSite: .lax)
    }

    func signIn(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 8_192)
        guard let token = FormBody(String(buffer: body))["token"], !token.isEmpty else {
            return Self.html(Self.signIn(error: "Give a token."), status: .badRequest)
        }
        // Checked first: a wrong token gets the form again, not a useless cookie.
        guard let principal = try? await environment.access.authenticate(token) else {
            return Self.html(Self.signIn(error: "That token is not valid."), status: .unauthorized)
        }
        var response = Self.redirect("/")
        // A token that expires takes its cookie with it.
        response.setCookie(
            cookie(value: token, maxAge: principal.expires.map { max(1, Int($0.timeIntervalSinceNow)) }))
        return response
    }

    func page(_ request: Request, context: VigilRequestContext) async throws -> Response {
        if request.uri.queryParameters.get("token") != nil {
            return Self.html(
                Self.signIn(
                    error: "Sign in with this form: a token in an address stays in browser history and server logs."),
                status: .badRequest)
        }
        guard let principal = context.principal else {
            return Self.html(Self.signIn(error: nil), status: .unauthorized)
        }
        guard principal.role != .device else {
            throw APIError.forbidden("a device token only uploads images; sign in as an operator or a customer")
        }
        var filter = AlertFilter(limit: 20)
        if principal.role == .customer { filter.customer = principal.customer }
        let alerts = try await self.alerts.visible(environment.alerts.alerts(filter), to: principal)
        let counts = try await stats.counts(for: principal)
        var body = "<header><h1>Vigil</h1><p id=\"who\">Signed in as <b>\(HTML.escape(principal.name))</b> ("
        body += HTML.escape(principal.role.rawValue)
        if let customer = principal.customer { body += " <b>\(HTML.escape(customer))</b>" }
        body += ") · <a href=\"/logout\">sign out</a></p></header>"
        body += "<section id=\"alerts\"><h2>Recent alerts</h2>"
        let standing = try await verdicts.book.verdicts(on: alerts)
        let formKey = AccessMiddleware.presentedToken(request).map(DashboardFormKey.value(for:)) ?? ""
        body += alerts.isEmpty ? "<p>No alerts.</p>" : Self.alertTable(alerts, verdicts: standing, formKey: formKey)
        body += "</section>"
        body += "<section id=\"stats\"><h2>Alerts: \(counts.alerts.total)"
        body += " · invalid images: \(counts.invalid.total)</h2><div class=\"charts\">"
        let charts = counts.charts
        for name in ["by-day.svg", "by-hour.svg", "by-device.svg", "by-label.svg", "invalid-by-device.svg"] {
            if let chart = charts[name] { body += "<figure data-chart=\"\(name)\">\(chart.svg)</figure>" }
        }
        body += "</div></section>"
        if let rates = counts.verdicts, rates.total.judged > 0 {
            let total = rates.total
            body += "<section id=\"verdicts\"><h2>False alarms: \(total.falseAlarms) of \(total.judged) judged alerts"
            body +=
                " (\(VerdictRates.percent(total.falseAlarmRate))) · judged: \(total.judged) of \(total.alerts) alerts"
            body += " (\(VerdictRates.percent(total.judgedShare)))</h2><div class=\"charts\">"
            for name in VerdictRates.chartNames {
                if let chart = charts[name] { body += "<figure data-chart=\"\(name)\">\(chart.svg)</figure>" }
            }
            body += "</div></section>"
        }
        if principal.seesEverything {
            let pipelineList = try await pipelines.pipelines()
            let failed = pipelineList.reduce(0) { $0 + ($1.lastJob?.counts.failed ?? 0) }
            let dead = try await environment.alerts.counts()[.dead] ?? 0
            // What waits on a person or a later try, at the top of the operator's view.
            body += "<section id=\"health\"><p>Failed datums (tried again on a schedule): "
            body += "<b class=\"\(failed > 0 ? "state-failed" : "")\">\(failed)</b> · dead alerts "
            body +=
                "(<code>vigil alerts retry</code>): <b class=\"\(dead > 0 ? "state-dead" : "")\">\(dead)</b></p></section>"
            body += "<section id=\"pipelines\"><h2>Pipelines</h2>"
            body += Self.pipelineTable(pipelineList)
            body += "</section>"
            let workers = try await pipelines.workers()
            if workers.queued {
                body += "<section id=\"workers\"><h2>Workers</h2>"
                body += workers.workers.isEmpty ? "<p>No workers are running.</p>" : Self.workerTable(workers.workers)
                body += "</section>"
            }
        }
        var response = Self.html(body, status: .ok)
        response.headers[.vigilTarget] = "dashboard"
        return response
    }

    /// A verdict from the dashboard's buttons: the form's `alert`, `verdict` and optional `label`; back to the
    /// page when it is recorded.
    func judge(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin, .operator, .customer], to: "give verdicts on alerts")
        let form = FormBody(String(buffer: try await request.body.collect(upTo: 8_192)))
        guard let id = form["alert"], !id.isEmpty else {
            throw APIError.badRequest(code: VigilError.Code.badVerdict.rawValue, "the form names no alert")
        }
        guard let kind = form["verdict"].flatMap(AlertVerdict.Kind.init(rawValue:)) else {
            throw APIError.badRequest(
                code: VigilError.Code.badVerdict.rawValue, "the verdict is confirmed or false-alarm",
                value: form["verdict"] ?? "")
        }
        let label = form["label"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        let alert = try await verdicts.alert(id, to: principal)
        let (_, target) = try await verdicts.record(kind, label: label, note: nil, on: alert, by: principal)
        var response = Self.redirect("/#alert-\(alert.id)")
        response.headers[.vigilTarget] = target
        return response
    }

    static func alertTable(_ alerts: [AlertInfo], verdicts: [String: AlertVerdict], formKey: String) -> String {
        var html = "<table><tr><th>Image</th><th>Time (UTC)</th><th>Device</th><th>Customer</th><th>Seen</th>"
        html += "<th>State</th><th>Told</th><th>Verdict</th></tr>"
        for alert in alerts {
            let record = alert.record
            let image = "/v1/alerts/\(alert.id)/thumbnail.jpg"
            let seen = record.labels.map { "\($0.label) \(Int(($0.confidence * 100).rounded()))%" }.joined(
                separator: ", ")
            html +=
                "<tr class=\"alert\" id=\"alert-\(HTML.escape(alert.id))\" data-device=\"\(HTML.escape(alert.device))\" data-customer=\""
            html +=
                "\(HTML.escape(alert.customer))\"><td><img loading=\"lazy\" alt=\"\(HTML.escape(record.image.name))\" "
            html += "src=\"\(HTML.escape(image))\"></td><td>\(HTML.escape(record.isoTime))</td>"
            html += "<td>\(HTML.escape(alert.device))</td><td>\(HTML.escape(record.customerName))</td>"
            html +=
                "<td>\(HTML.escape(seen))</td><td class=\"state-\(alert.state.rawValue)\">\(alert.state.rawValue)</td>"
            html += "<td>\(alert.level + 1)/\(record.contacts.count)</td>"
            html += "<td class=\"verdict\">" + verdictCell(alert, verdicts[alert.id], formKey: formKey) + "</td></tr>"
        }
        return html + "</table>"
    }

    /// The verdict that stands (if any) and one click to give or change it.
    static func verdictCell(_ alert: AlertInfo, _ verdict: AlertVerdict?, formKey: String) -> String {
        var html = ""
        if let verdict {
            html += "<span class=\"verdict-\(verdict.verdict.rawValue)\">"
            html += HTML.escape(verdict.verdict == .confirmed ? "confirmed" : "false alarm")
            if let label = verdict.label { html += " (\(HTML.escape(label)))" }
            html += "</span> "
        }
        html += "<form method=\"post\" action=\"/verdict?form=\(HTML.escape(formKey))\">"
        html += "<input type=\"hidden\" name=\"alert\" value=\"\(HTML.escape(alert.id))\">"
        html += "<input name=\"label\" size=\"9\" maxlength=\"64\" placeholder=\"what was it?\" "
        html += "aria-label=\"what it really was\"> <button name=\"verdict\" value=\"confirmed\">Real</button> "
        html += "<button name=\"verdict\" value=\"false-alarm\">False alarm</button></form>"
        return html
    }

    static func pipelineTable(_ pipelines: [PipelineRoutes.Pipeline]) -> String {
        var html = "<table><tr><th>Pipeline</th><th>Last job</th><th>Datums</th><th>Finished</th></tr>"
        for pipeline in pipelines {
            let job = pipeline.lastJob
            let counts = job.map {
                "\($0.counts.processed) processed, \($0.counts.skipped) skipped, \($0.counts.failed) failed"
            }
            html += "<tr class=\"pipeline\"><td>\(HTML.escape(pipeline.name))</td>"
            html += "<td class=\"state-\(job?.state.rawValue ?? "none")\">\(job?.state.rawValue ?? "no job yet")</td>"
            html += "<td>\(counts ?? "-")</td><td>\(job?.finished?.formatted(.iso8601) ?? "-")</td></tr>"
        }
        return html + "</table>"
    }

    static func workerTable(_ workers: [WorkerStatus]) -> String {
        var html = "<table><tr><th>Pipeline</th><th>Worker</th><th>Host</th><th>State</th><th>Claimed</th>"
        html += "<th>Done</th><th>Heartbeat</th></tr>"
        for status in workers {
            let worker = status.worker
            let state = status.seemsGone ? "silent" : worker.state
            html += "<tr class=\"worker\"><td>\(HTML.escape(worker.pipeline))</td><td>\(HTML.escape(worker.name))</td>"
            html += "<td>\(HTML.escape(worker.host))</td><td title=\"\(HTML.escape(worker.lastError ?? ""))\">"
            html +=
                "\(HTML.escape(state))</td><td>\(status.claimed)/\(worker.concurrency)</td><td>\(status.finished)</td>"
            html += "<td>\(String(format: "%.1f", max(0, status.silentFor))) s ago</td></tr>"
        }
        return html + "</table>"
    }

    static func signIn(error: String?) -> String {
        """
        <header><h1>Vigil</h1></header><section id="sign-in"><h2>Sign in</h2>\
        \(error.map { "<p class=\"error\">\(HTML.escape($0))</p>" } ?? "")\
        <form method="post" action="/sign-in"><label>API token <input name="token" type="password" size="60" \
        autocomplete="off"></label> \
        <button>Sign in</button></form><p>Tokens come from <code>vigil token create</code>.</p></section>
        """
    }

    static func html(_ body: String, status: HTTPResponse.Status) -> Response {
        let page = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Vigil</title><style>
            body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}h1{margin:0}header{margin-bottom:1em}
            .charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figure svg{height:260px;width:auto}table{border-collapse:collapse}
            td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:middle}
            .state-dead,.state-failed,.state-unacknowledged{color:#b00}.state-open{color:#a60}.error{color:#b00}
            </style></head><body>\(body)</body></html>
            """
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}
