using System.Text;
using Ckptmpi.Parallel;
using Ckptmpi.Parallel.Timeline;

namespace Ckptmpi.Conversion.Report;

public static partial class ReportHtml
{
    private const int LabelWidth = 150, PlotWidth = 940, LaneHeight = 34;

    /// <summary>Colours of the collective phases (by name) and of the executor's activities.</summary>
    private static string PhaseColour(string phase) => phase switch
    {
        "read source metadata" => "#7b8494",
        "plan" => "#5b5bd6",
        "write" => "#0f766e",
        "commit" => "#c2410c",
        "write manifest" => "#ca8a04",
        "predicted" => "#0f766e",
        _ => "#94a3b8",
    };

    private static readonly (string Kind, string Colour, int Row)[] ActivityStyles =
    [
        (Execution.Activities.Read, "#2563eb", 0), (Execution.Activities.Exchange, "#0891b2", 0), (Execution.Activities.Transform, "#f59e0b", 0),
        (Execution.Activities.Write, "#16a34a", 1), (Execution.Activities.Sync, "#9333ea", 1),
    ];

    private static void Timeline(StringBuilder h, RunReport r)
    {
        // Lanes are aligned at the first collective, so a rank started earlier by the launcher begins before 0.
        double begin = Math.Min(0, r.PerRank.SelectMany(k => k.Timeline.Values).SelectMany(s => s).Select(s => s.Start).DefaultIfEmpty(0).Min());
        double end = Math.Max(begin + 1e-6, r.PerRank.SelectMany(k => k.Timeline.Values).SelectMany(s => s).Select(s => s.End).DefaultIfEmpty(r.WallSeconds).Max());
        double X(double t) => LabelWidth + (t - begin) / (end - begin) * PlotWidth;
        int height = r.PerRank.Count * LaneHeight + 30;
        h.Append(Ci, $"<svg class=\"timeline\" width=\"{LabelWidth + PlotWidth + 10}\" height=\"{height}\" role=\"img\" aria-label=\"timeline, one lane per rank\">\n");
        h.Append("<defs><pattern id=\"wait\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"#e5e7eb\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#9ca3af\" stroke-width=\"2\"/></pattern></defs>\n");
        foreach (RankReport rank in r.PerRank.OrderBy(k => k.Rank))
        {
            int y = rank.Rank * LaneHeight;
            h.Append(Ci, $"<g class=\"lane\" data-rank=\"{rank.Rank}\"><rect x=\"0\" y=\"{y}\" width=\"{LabelWidth + PlotWidth}\" height=\"{LaneHeight - 2}\" fill=\"{(rank.Rank % 2 == 0 ? "#f8fafc" : "#ffffff")}\"/>")
             .Append(Ci, $"<text x=\"4\" y=\"{y + 20}\">r{rank.Rank} {E(Short(rank.Host))}</text>\n");
            foreach (var (kind, spans) in rank.Timeline)
            {
                string? fill = null; double top = 0, tall = 0;
                if (kind == CollectivePhase.WaitKind) { fill = "url(#wait)"; top = 2; tall = 9; }
                else if (kind.StartsWith("phase:", StringComparison.Ordinal)) { fill = PhaseColour(kind[6..]); top = 2; tall = 9; }
                else if (ActivityStyles.FirstOrDefault(a => a.Kind == kind) is { Kind: not null } style) { fill = style.Colour; top = 13 + style.Row * 9; tall = 8; }
                else if (kind == "predicted") { fill = PhaseColour("predicted"); top = 13; tall = 17; }
                if (fill is null) continue;
                foreach (TimelineSpan s in spans)
                {
                    double w = Math.Max(0.6, X(s.End) - X(s.Start));
                    double busy = s.End > s.Start ? Math.Clamp(s.Busy / (s.End - s.Start), 0.15, 1) : 1;
                    h.Append(Ci, $"<rect x=\"{F(X(s.Start))}\" y=\"{F(y + top)}\" width=\"{F(w)}\" height=\"{F(tall)}\" fill=\"{fill}\" fill-opacity=\"{F(busy)}\"><title>{E(Label(kind))} {s.Start:0.000}-{s.End:0.000} s</title></rect>");
                }
                h.Append('\n');
            }
            h.Append("</g>\n");
        }
        int axisY = r.PerRank.Count * LaneHeight + 4;
        h.Append(Ci, $"<line x1=\"{LabelWidth}\" y1=\"{axisY}\" x2=\"{LabelWidth + PlotWidth}\" y2=\"{axisY}\" stroke=\"#64748b\"/>");
        double step = NiceStep((end - begin) / 8);
        for (double t = Math.Ceiling(begin / step) * step; t <= end + 1e-9; t += step)
            h.Append(Ci, $"<line x1=\"{F(X(t))}\" y1=\"{axisY}\" x2=\"{F(X(t))}\" y2=\"{axisY + 4}\" stroke=\"#64748b\"/><text x=\"{F(X(t) - 8)}\" y=\"{axisY + 16}\">{t:0.###} s</text>");
        h.Append("</svg>\n<div class=\"legend\">");
        foreach (string p in new[] { "read source metadata", "plan", "write", "commit", "write manifest" })
            h.Append("<span><i style=\"background:").Append(PhaseColour(p)).Append("\"></i>").Append(E(p)).Append("</span>");
        h.Append("<span><i style=\"background:#e5e7eb;border:1px solid #9ca3af\"></i>wait for the other ranks</span><br>");
        foreach (var (kind, colour, _) in ActivityStyles)
            h.Append("<span><i style=\"background:").Append(colour).Append("\"></i>").Append(E(Label(kind))).Append("</span>");
        h.Append("</div>\n");
    }

    private static void RankBars(StringBuilder h, RunReport r)
    {
        long maxBytes = Math.Max(1, r.PerRank.Max(k => Math.Max(k.BytesRead, k.BytesWritten)));
        long maxMemory = Math.Max(1, r.PerRank.Select(k => k.PeakRssBytes).Append(r.MaxBuffer).Max());
        const int Bar = 300, Row = 22;
        int height = r.PerRank.Count * Row + 24;
        h.Append(Ci, $"<svg class=\"ranks\" width=\"{LabelWidth + 2 * Bar + 420}\" height=\"{height}\" role=\"img\" aria-label=\"bytes and memory per rank\">\n");
        h.Append(Ci, $"<text x=\"{LabelWidth}\" y=\"12\">bytes read (blue) and written (green)</text><text x=\"{LabelWidth + Bar + 210}\" y=\"12\">peak RSS (bar) against --max-buffer (line)</text>\n");
        foreach (RankReport k in r.PerRank.OrderBy(k => k.Rank))
        {
            int y = 20 + k.Rank * Row;
            double read = (double)k.BytesRead / maxBytes * Bar, written = (double)k.BytesWritten / maxBytes * Bar;
            double rss = (double)k.PeakRssBytes / maxMemory * Bar, buffer = (double)r.MaxBuffer / maxMemory * Bar;
            int mx = LabelWidth + Bar + 210;
            h.Append(Ci, $"<g class=\"rank\" data-rank=\"{k.Rank}\"><text x=\"4\" y=\"{y + 13}\">r{k.Rank} {E(Short(k.Host))}</text>")
             .Append(Ci, $"<rect x=\"{LabelWidth}\" y=\"{y + 2}\" width=\"{F(Math.Max(read, 0.5))}\" height=\"7\" fill=\"#2563eb\"/><rect x=\"{LabelWidth}\" y=\"{y + 10}\" width=\"{F(Math.Max(written, 0.5))}\" height=\"7\" fill=\"#16a34a\"/>")
             .Append(Ci, $"<text x=\"{LabelWidth + Bar + 6}\" y=\"{y + 13}\">{E(Bytes(k.BytesRead))} / {E(Bytes(k.BytesWritten))}{(r.DryRun ? "" : ", " + E(Rate(k.WrittenBytesPerSecond)))}</text>")
             .Append(Ci, $"<rect x=\"{mx}\" y=\"{y + 4}\" width=\"{F(Math.Max(rss, 0.5))}\" height=\"11\" fill=\"{(k.PeakRssBytes > r.MaxBuffer + FixedOverhead ? "#dc2626" : "#64748b")}\"/><line x1=\"{F(mx + buffer)}\" y1=\"{y + 1}\" x2=\"{F(mx + buffer)}\" y2=\"{y + 18}\" stroke=\"#0f172a\" stroke-width=\"2\"/>")
             .Append(Ci, $"<text x=\"{mx + Bar + 6}\" y=\"{y + 13}\">{(k.PeakRssBytes > 0 ? E(Bytes(k.PeakRssBytes)) : "n/a")}</text></g>\n");
        }
        h.Append("</svg>\n");
    }

    /// <summary>What a rank may hold beyond --max-buffer (the .NET runtime, metadata, the plan) before its bar turns red.</summary>
    private const long FixedOverhead = 512L << 20;

    private static string Label(string kind) => kind == CollectivePhase.WaitKind ? "wait for the other ranks" : kind.StartsWith("phase:", StringComparison.Ordinal) ? kind[6..] : kind;

    private static string Short(string host) => host.Length > 16 ? host[..16] : host;

    private static double NiceStep(double raw)
    {
        if (raw <= 0) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double m = raw / p;
        return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
    }
}
