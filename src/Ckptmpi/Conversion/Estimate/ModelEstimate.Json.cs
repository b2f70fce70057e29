using System.Text;
using System.Text.Json;

namespace Ckptmpi.Conversion.Estimate;

public sealed partial record ModelEstimate
{
    /// <summary>
    /// The same numbers as <see cref="ToText"/>, machine-readable: counts and bytes as integers, and the GB figures
    /// as the exact digits DeepSpeed prints (JSON numbers). <paramref name="computeSeconds"/>, when given, is how long
    /// loading and computing took in-process.
    /// </summary>
    public string ToJson(ZeroStages stages = ZeroStages.All, double? computeSeconds = null)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("model", Source.Path);
            w.WriteString("source", Source.Kind == EstimateSourceKind.ConfigJson ? "config.json" : "safetensors");
            if (Source.Architecture is null) w.WriteNull("architecture"); else w.WriteString("architecture", Source.Architecture);
            if (ExcludePattern is null) w.WriteNull("exclude"); else w.WriteString("exclude", ExcludePattern);
            w.WriteNumber("num_gpus_per_node", GpusPerNode);
            w.WriteNumber("num_nodes", Nodes);
            w.WriteNumber("additional_buffer_factor", AdditionalBufferFactor);
            w.WriteNumber("tensors", Census.TensorCount);
            w.WriteNumber("modules", Census.ModuleCount);
            w.WriteNumber("total_params", Census.TotalParameters);
            w.WriteNumber("total_params_millions", DeepSpeedTable.Millions(Census.TotalParameters));
            w.WriteNumber("largest_layer_params", Census.LargestLayerParameters);
            w.WriteNumber("largest_layer_params_millions", DeepSpeedTable.Millions(Census.LargestLayerParameters));
            w.WriteString("largest_layer_module", Census.LargestLayerModule);
            w.WriteStartArray("excluded_tensors");
            foreach (string name in Census.ExcludedTensors) w.WriteStringValue(name);
            w.WriteEndArray();
            w.WriteNumber("excluded_params", Census.ExcludedParameters);
            if (stages.HasFlag(ZeroStages.Zero3))
            {
                w.WriteStartObject("zero3");
                w.WriteNumber("largest_layer_memory_bytes", Zero3LargestLayerBytes);
                WriteRows(w, Zero3Rows);
                w.WriteEndObject();
            }
            if (stages.HasFlag(ZeroStages.Zero2))
            {
                w.WriteStartObject("zero2");
                WriteRows(w, Zero2Rows);
                w.WriteEndObject();
            }
            if (computeSeconds is double s) w.WriteNumber("compute_seconds", Math.Round(s, 6));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteRows(Utf8JsonWriter w, IReadOnlyList<ZeroEstimateRow> rows)
    {
        w.WriteStartArray("rows");
        foreach (ZeroEstimateRow row in rows)
        {
            w.WriteStartObject();
            if (row.OffloadParam is bool p) w.WriteString("offload_param", p ? "cpu" : "none");
            w.WriteString("offload_optimizer", row.OffloadOptimizer ? "cpu" : "none");
            if (row.ZeroInit is bool z) w.WriteBoolean("zero_init", z);
            w.WriteNumber("cpu_bytes", row.CpuBytes);
            w.WriteNumber("gpu_bytes", row.GpuBytes);
            // The digits DeepSpeed prints, as numbers: "436.93" stays 436.93, never a re-rounded double.
            w.WritePropertyName("cpu_gb");
            w.WriteRawValue(row.CpuGigabytes);
            w.WritePropertyName("gpu_gb");
            w.WriteRawValue(row.GpuGigabytes);
            w.WriteString("options", row.Options);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
