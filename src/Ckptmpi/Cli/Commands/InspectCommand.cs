using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Tensors;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi inspect PATH [--json]</c>: the tensors (name, dtype, shape, bytes, file) of a safetensors file or a
/// sharded HF directory, from headers and the index only; of torch.save files, legacy <c>pytorch_model*.bin</c>
/// directories and DeepSpeed checkpoints, the tensors and the other pickled objects as a tree, from the zip directory
/// and the pickle only. No tensor data is read.
/// </summary>
public static partial class InspectCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("path")
        {
            Description = "A .safetensors or torch .pt/.bin/.pth file, a HuggingFace checkpoint directory, or a DeepSpeed checkpoint directory (with 'latest', or a global_step folder). Several may be given.",
            Arity = ArgumentArity.OneOrMore,
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (an array of them for several paths) instead of a table." };
        var command = new Command("inspect", "List the tensors of a checkpoint (name, dtype, shape, bytes, file) and its other objects, reading only headers and pickles.");
        command.Arguments.Add(paths);
        command.Options.Add(json);
        command.SetAction(parse => JobRunner.Run(comm =>
        {
            if (comm.Rank != 0) return ExitCodes.Success; // metadata only: one rank reads and speaks
            string[] targets = parse.GetValue(paths)!;
            bool asJson = parse.GetValue(json);
            List<string> reports = targets.Select(t => Describe(t, asJson)).ToList();
            if (asJson && reports.Count > 1) Console.Out.Write("[\n" + string.Join(",\n", reports.Select(r => r.TrimEnd())) + "\n]\n");
            else Console.Out.Write(string.Join("\n", reports));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static string Describe(string target, bool asJson)
    {
        if (TorchFiles(target) is { } torchFiles) return asJson ? TorchJson(target, torchFiles) : TorchText(target, torchFiles);
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Load(target);
        return asJson ? Json(target, checkpoint) : Text(target, checkpoint);
    }

    internal static string Text(string target, SafetensorsCheckpoint c)
    {
        var rows = new List<string[]> { new[] { "NAME", "DTYPE", "SHAPE", "BYTES", "FILE" } };
        foreach (SafetensorsCheckpoint.ShardHeader s in c.Shards)
        {
            foreach (SafetensorsTensorInfo t in s.Header.Tensors)
                rows.Add([t.Name, t.DType.SafetensorsName(), $"[{string.Join(", ", t.Shape)}]", t.ByteLength.ToString("N0", CultureInfo.InvariantCulture), s.RelativePath]);
        }
        int[] width = Enumerable.Range(0, 5).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        int tensors = rows.Count - 1;
        text.Append(CultureInfo.InvariantCulture, $"{target}: safetensors, {c.Shards.Count} file{(c.Shards.Count == 1 ? "" : "s")}, {tensors} tensors, {c.TotalTensorBytes:N0} bytes of tensor data");
        if (c.Index is not null) text.Append(", ").Append(SafetensorsFormat.IndexFileName);
        if (c.ConfigPath is not null) text.Append(", ").Append(SafetensorsFormat.ConfigFileName);
        text.AppendLine();
        foreach (string[] r in rows)
        {
            // Byte counts align right, everything else left.
            text.AppendLine($"{r[0].PadRight(width[0])}  {r[1].PadRight(width[1])}  {r[2].PadRight(width[2])}  {r[3].PadLeft(width[3])}  {r[4]}");
        }
        var byDType = c.Shards.SelectMany(s => s.Header.Tensors).GroupBy(t => t.DType).OrderBy(g => g.Key);
        text.AppendLine("dtypes: " + string.Join(", ", byDType.Select(g => $"{g.Key.SafetensorsName()} {g.Count()} tensors {g.Sum(t => t.ElementCount):N0} elements")));
        return text.ToString();
    }

    internal static string Json(string target, SafetensorsCheckpoint c)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("path", target);
            w.WriteString("format", "safetensors");
            if (c.Index is not null) w.WriteString("index", SafetensorsFormat.IndexFileName);
            else w.WriteNull("index");
            if (c.ConfigPath is not null) w.WriteString("config", c.ConfigPath);
            w.WriteNumber("total_bytes", c.TotalTensorBytes);
            w.WriteStartArray("files");
            foreach (SafetensorsCheckpoint.ShardHeader s in c.Shards)
            {
                w.WriteStartObject();
                w.WriteString("file", s.RelativePath);
                w.WriteNumber("bytes", s.Header.FileLength);
                w.WriteNumber("header_bytes", s.Header.DataStart);
                w.WriteNumber("tensors", s.Header.Tensors.Count);
                w.WriteStartObject("metadata");
                foreach (var (k, v) in s.Header.Metadata) w.WriteString(k, v);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("tensors");
            foreach (SafetensorsCheckpoint.ShardHeader s in c.Shards)
            {
                foreach (SafetensorsTensorInfo t in s.Header.Tensors)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteString("dtype", t.DType.SafetensorsName());
                    w.WriteStartArray("shape");
                    foreach (long d in t.Shape) w.WriteNumberValue(d);
                    w.WriteEndArray();
                    w.WriteNumber("bytes", t.ByteLength);
                    w.WriteString("file", s.RelativePath);
                    w.WriteNumber("offset", t.FileRange.Start);
                    w.WriteEndObject();
                }
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }
}
