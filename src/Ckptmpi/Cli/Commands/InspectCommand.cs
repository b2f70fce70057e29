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
/// sharded HF directory, from headers and the index only; no tensor data is read.
/// </summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "A .safetensors file or a HuggingFace checkpoint directory (model.safetensors or shards with model.safetensors.index.json)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command("inspect", "List the tensors of a checkpoint (name, dtype, shape, bytes, file), reading only headers.");
        command.Arguments.Add(path);
        command.Options.Add(json);
        command.SetAction(parse => JobRunner.Run(comm =>
        {
            if (comm.Rank != 0) return ExitCodes.Success; // metadata only: one rank reads and speaks
            string target = parse.GetValue(path)!;
            RejectTorch(target);
            SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Load(target);
            Console.Out.Write(parse.GetValue(json) ? Json(target, checkpoint) : Text(target, checkpoint));
            return ExitCodes.Success;
        }));
        return command;
    }

    // torch.save files and DeepSpeed directories need the pickle reader of the torch format, not in this build.
    private static void RejectTorch(string target)
    {
        bool torchFile = File.Exists(target) && Path.GetExtension(target) is ".pt" or ".bin" or ".pth";
        bool deepSpeed = Directory.Exists(target) && (File.Exists(Path.Combine(target, "latest"))
            || Directory.EnumerateFiles(target, "*_model_states.pt", SearchOption.AllDirectories).Any());
        if (torchFile || deepSpeed)
            throw new UnsupportedCheckpointException(target, "inspecting torch.save files and DeepSpeed checkpoints needs the torch reader, which is not in this build; safetensors files and HF directories are supported");
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
