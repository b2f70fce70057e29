using System.Globalization;
using System.Net;
using System.Text;
using Ckptmpi.Parallel.Timeline;

namespace Ckptmpi.Conversion.Report;

/// <summary>
/// Renders a <see cref="RunReport"/> as one self-contained HTML page: inline CSS and SVG, no script and nothing
/// fetched, so it opens from a login node's file browser or on a laptop after <c>scp</c>. Sections: the job, per-node
/// rates, the timeline (one lane per rank: its collective phases and the waits at their ends above, the read,
/// transform, write and sync activities of its pieces below), and per-rank bars of bytes, rates and peak memory.
/// </summary>
public static partial class ReportHtml
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    public static string Render(RunReport r)
    {
        var h = new StringBuilder();
        string title = $"ckptmpi {(r.DryRun ? "dry run" : "convert")} {r.From} → {r.To}";
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>\n<style>")
         .Append(Css).Append("</style></head>\n<body>\n");
        h.Append("<h1>").Append(E(title)).Append("</h1>\n");
        h.Append("<pre class=\"cmd\">").Append(E(string.Join(' ', r.CommandLine.Select(Quote)))).Append("</pre>\n");
        Summary(h, r);
        Nodes(h, r);
        h.Append("<h2>Timeline</h2>\n");
        if (r.DryRun)
            h.Append("<p class=\"note\">Predicted: every rank moves its planned bytes (read + written) at ")
             .Append(E(Rate(r.AssumedBytesPerSecond ?? 0))).Append(" per rank; the slowest rank decides the job's time.</p>\n");
        Timeline(h, r);
        h.Append("<h2>Ranks</h2>\n");
        RankBars(h, r);
        h.Append("<p class=\"foot\">").Append(E($"{r.Tool} {r.Version}, {r.CreatedUtc:yyyy-MM-dd HH:mm:ss} UTC. Data: {ReportFiles.JsonName}; re-render with 'ckptmpi report DIR'."))
         .Append("</p>\n</body></html>\n");
        return h.ToString();
    }

    private static void Summary(StringBuilder h, RunReport r)
    {
        int hosts = r.PerNode.Count;
        double wall = Math.Max(r.WallSeconds, 1e-9);
        var rows = new List<(string, string)>
        {
            ("input", $"{r.Input} ({Bytes(r.InputBytes)})"),
            ("output", $"{r.Output} ({r.OutputFiles} files, {Bytes(r.OutputBytes)})"),
            ("ranks", $"{r.Ranks} on {hosts} host{(hosts == 1 ? "" : "s")}"),
            ("MPI", r.Mpi),
            (r.DryRun ? "predicted time" : "wall time", $"{r.WallSeconds:0.00} s (plan {r.PlanSeconds:0.000} s)"),
            ("read", $"{Bytes(r.BytesRead)}{(r.DryRun ? "" : $", {Rate(r.BytesRead / wall)} overall")}"),
            ("written", $"{Bytes(r.BytesWritten)}{(r.DryRun ? "" : $", {Rate(r.BytesWritten / wall)} overall")}"),
            ("balance", $"{r.PlanBalance:0.000} (max / mean bytes written per rank)"),
            ("buffer", $"{Bytes(r.MaxBuffer)} per rank, --io {r.Io}"),
            ("plan", r.PlanHash.Length > 16 ? r.PlanHash[..16] : r.PlanHash),
        };
        if (r.Striping is not null) rows.Add(("striping", r.Striping));
        h.Append("<table class=\"kv\">\n");
        foreach (var (k, v) in rows) h.Append("<tr><th>").Append(E(k)).Append("</th><td>").Append(E(v)).Append("</td></tr>\n");
        h.Append("</table>\n");
    }

    private static void Nodes(StringBuilder h, RunReport r)
    {
        h.Append("<h2>Nodes</h2>\n<table class=\"grid\"><tr><th>host</th><th>ranks</th><th>read</th><th>written</th><th>write phase</th><th>read rate</th><th>write rate</th></tr>\n");
        foreach (NodeReport n in r.PerNode)
        {
            h.Append(Ci, $"<tr><td>{E(n.Host)}</td><td>{E(RankList(n.Ranks))}</td><td>{E(Bytes(n.BytesRead))}</td><td>{E(Bytes(n.BytesWritten))}</td>")
             .Append(Ci, $"<td>{n.WriteSeconds:0.00} s</td><td>{E(Rate(n.ReadBytesPerSecond))}</td><td>{E(Rate(n.WrittenBytesPerSecond))}</td></tr>\n");
        }
        h.Append("</table>\n");
    }

    internal static string Bytes(long n) => Tensors.ByteSize.Format(n);

    internal static string Rate(double bytesPerSecond) => string.Create(Ci, $"{bytesPerSecond / 1e9:0.00} GB/s");

    private static string RankList(IReadOnlyList<int> ranks) =>
        ranks.Count > 1 && ranks[^1] - ranks[0] == ranks.Count - 1 ? $"{ranks[0]}-{ranks[^1]}" : string.Join(",", ranks);

    private static string Quote(string arg) => arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "-_./=:,@+".Contains(c)) ? arg : $"'{arg.Replace("'", "'\\''")}'";

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string F(double v) => v.ToString("0.##", Ci);

    private const string Css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px 32px;color:#1d2330;max-width:1240px}
        h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1ea;padding-bottom:4px}
        pre.cmd{background:#f3f5f9;border:1px solid #dde1ea;padding:8px 10px;white-space:pre-wrap;word-break:break-all;font-size:12px}
        table{border-collapse:collapse}table.kv th{text-align:left;padding:2px 16px 2px 0;color:#5a6275;font-weight:600}
        table.kv td{padding:2px 0}table.grid th,table.grid td{border:1px solid #dde1ea;padding:3px 10px;text-align:right}
        table.grid th{background:#f3f5f9}table.grid td:first-child{text-align:left}
        .note,.foot{color:#5a6275;font-size:12px}svg text{font:11px system-ui,sans-serif;fill:#1d2330}
        .legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border-radius:2px}
        """;
}
