import Foundation

/// A bar chart as an SVG document a person can read: a title, labelled axes, one labelled bar per category
/// with its value written on it, and a y axis with round ticks. No scripts, no external fonts or styles, so it
/// renders the same in a browser, in `rsvg-convert` and in a report.
public struct BarChart: Sendable, Hashable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var bars: [(label: String, value: Int)]

    public init(title: String, xLabel: String, yLabel: String, bars: [(label: String, value: Int)]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.bars = bars
    }

    public static func == (lhs: BarChart, rhs: BarChart) -> Bool {
        lhs.svg == rhs.svg
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(svg) }

    /// The chart; deterministic for the same data (same bytes, so an unchanged chart stores nothing new).
    public var svg: String {
        let barWidth = 36.0, gap = 14.0, left = 70.0, right = 20.0, top = 50.0, plotHeight = 260.0
        // Labels are drawn at 45°: leave room below for the longest, then for the axis title; and make the
        // chart wide enough for its title.
        let longest = Double(bars.map(\.label.count).max() ?? 0)
        let bottom = 45 + longest * 5
        let count = max(bars.count, 1)
        let width = max(left + Double(count) * (barWidth + gap) + gap + right, Double(title.count) * 10 + 40)
        let height = top + plotHeight + bottom
        let maximum = max(bars.map(\.value).max() ?? 0, 1)
        let step = Self.tickStep(maximum)
        let scaleTop = Int((Double(maximum) / Double(step)).rounded(.up)) * step
        func y(_ value: Int) -> Double { top + plotHeight - plotHeight * Double(value) / Double(scaleTop) }
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">
            <title>\(Self.escape(title))</title>
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(width / 2))" y="28" text-anchor="middle" font-size="16" font-weight="bold">\(Self.escape(title))</text>

            """
        // Y axis: ticks and grid lines.
        var tick = 0
        while tick <= scaleTop {
            let position = Self.format(y(tick))
            out += """
                <line x1="\(Int(left))" y1="\(position)" x2="\(Self.format(width - right))" y2="\(position)" stroke="#e0e0e0"/>
                <text x="\(Int(left) - 6)" y="\(position)" text-anchor="end" dominant-baseline="middle">\(tick)</text>

                """
            tick += step
        }
        out += """
            <line x1="\(Int(left))" y1="\(Int(top))" x2="\(Int(left))" y2="\(Int(top + plotHeight))" stroke="black"/>
            <line x1="\(Int(left))" y1="\(Int(top + plotHeight))" x2="\(Self.format(width - right))" y2="\(Int(top + plotHeight))" stroke="black"/>
            <text x="18" y="\(Int(top + plotHeight / 2))" text-anchor="middle" transform="rotate(-90 18 \(Int(top + plotHeight / 2)))">\(Self.escape(yLabel))</text>
            <text x="\(Int(width / 2))" y="\(Int(height - 12))" text-anchor="middle">\(Self.escape(xLabel))</text>

            """
        for (index, bar) in bars.enumerated() {
            let x = left + gap + Double(index) * (barWidth + gap)
            let barTop = y(bar.value)
            let centre = Self.format(x + barWidth / 2)
            out += """
                <g class="bar" data-label="\(Self.escape(bar.label))" data-value="\(bar.value)">\
                <rect x="\(Self.format(x))" y="\(Self.format(barTop))" width="\(Int(barWidth))" \
                height="\(Self.format(top + plotHeight - barTop))" fill="#3b6ea8"/>\
                <text x="\(centre)" y="\(Self.format(barTop - 5))" text-anchor="middle">\(bar.value)</text>\
                <text x="\(centre)" y="\(Int(top + plotHeight + 14))" text-anchor="end" \
                transform="rotate(-45 \(centre) \(Int(top + plotHeight + 14)))">\(Self.escape(bar.label))</text></g>

                """
        }
        if bars.isEmpty {
            out += """
                <text x="\(Int(width / 2))" y="\(Int(top + plotHeight / 2))" text-anchor="middle" fill="#777">no data yet</text>

                """
        }
        return out + "</svg>\n"
    }

    /// A round tick step (1, 2 or 5 × 10ⁿ) giving at most ~6 ticks.
    static func tickStep(_ maximum: Int) -> Int {
        var magnitude = 1
        while true {
            for factor in [1, 2, 5] where maximum / (factor * magnitude) <= 5 { return factor * magnitude }
            magnitude *= 10
        }
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
