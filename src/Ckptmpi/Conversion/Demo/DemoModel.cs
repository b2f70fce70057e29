using System.Globalization;
using System.Text;
using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Model;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Kernels;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Conversion.Demo;

/// <summary>
/// A Llama-shaped HuggingFace checkpoint with deterministic pseudo-random weights, generated in chunks (never a whole
/// tensor in memory): the demo's few-MB model and the benchmark's 1B-parameter one. Names and shapes come from the
/// Llama family in <c>Ckptmpi.Model</c>, so the checkpoint is what transformers would save for this config.
/// </summary>
public sealed record DemoModel
{
    public long HiddenSize { get; init; } = 256;
    public long IntermediateSize { get; init; } = 688;
    public long Layers { get; init; } = 4;
    public long Heads { get; init; } = 8;
    public long KvHeads { get; init; } = 4;
    public long VocabSize { get; init; } = 2048;
    public DType DType { get; init; } = DType.BF16;
    public long MaxShardBytes { get; init; } = 4_000_000;
    public ulong Seed { get; init; } = 20250601;

    /// <summary>config.json <c>tie_word_embeddings</c>: the checkpoint then has no <c>lm_head.weight</c>, as transformers saves it.</summary>
    public bool TieWordEmbeddings { get; init; }

    /// <summary>The benchmark's model: TinyLlama-1.1B's shapes (22 layers, hidden 2048, GQA 32/4, vocab 32000).</summary>
    public static DemoModel OneBillion => new() { HiddenSize = 2048, IntermediateSize = 5632, Layers = 22, Heads = 32, KvHeads = 4, VocabSize = 32000, MaxShardBytes = 1_000_000_000 };

    public string ConfigJson() => string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "architectures": ["LlamaForCausalLM"],
          "model_type": "llama",
          "hidden_size": {{HiddenSize}},
          "intermediate_size": {{IntermediateSize}},
          "num_hidden_layers": {{Layers}},
          "num_attention_heads": {{Heads}},
          "num_key_value_heads": {{KvHeads}},
          "vocab_size": {{VocabSize}},
          "max_position_embeddings": 2048,
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "tie_word_embeddings": {{(TieWordEmbeddings ? "true" : "false")}},
          "hidden_act": "silu",
          "torch_dtype": "{{DType.TorchName()}}"
        }
        """);

    /// <summary>Writes config.json and the safetensors shards into <paramref name="dir"/>; returns the number of parameters.</summary>
    public long Write(string dir)
    {
        Directory.CreateDirectory(dir);
        string configPath = Path.Combine(dir, "config.json");
        File.WriteAllText(configPath, ConfigJson(), new UTF8Encoding(false));
        ModelConfig config = ModelConfig.Load(configPath);
        IReadOnlyList<CanonicalTensor> tensors = config.Family.CanonicalTensors(config);
        OutputLayout layout = SafetensorsLayout.For(tensors.Select(t => (t.Name, DType, t.Shape)).ToList(), MaxShardBytes,
                                                    new Dictionary<string, string> { ["format"] = "pt" });
        var index = tensors.Select((t, i) => (t.Name, i)).ToDictionary(x => x.Name, x => (ulong)x.i);
        SafetensorsWriter.Write(layout, dir, (name, first, destination) => Fill(index[name], name, first, destination), 8 << 20);
        return tensors.Sum(t => t.ElementCount);
    }

    /// <summary>
    /// Element e of tensor t is a hash of (seed, t, e) mapped to a normal-ish range (norm weights near 1, others
    /// small), rounded once to the model dtype: reproducible from any element, so chunks can be filled in any order.
    /// </summary>
    private void Fill(ulong tensor, string name, long first, Span<byte> destination)
    {
        int size = DType.SizeInBytes();
        int n = destination.Length / size;
        bool norm = name.EndsWith("norm.weight", StringComparison.Ordinal);
        const int Step = 4096;
        Span<float> values = stackalloc float[Step];
        for (int at = 0; at < n; at += Step)
        {
            int count = Math.Min(Step, n - at);
            for (int i = 0; i < count; i++)
            {
                ulong h = Mix(Seed ^ (tensor * 0x9E3779B97F4A7C15UL) ^ (ulong)(first + at + i) * 0xC2B2AE3D27D4EB4FUL);
                float u = (h >> 40) * (1.0f / (1 << 24)) - 0.5f; // [-0.5, 0.5)
                values[i] = norm ? 1.0f + u * 0.1f : u * 0.08f;
            }
            ReadOnlySpan<byte> raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values[..count]);
            Cast.Convert(raw, DType.F32, destination.Slice(at * size, count * size), DType);
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
