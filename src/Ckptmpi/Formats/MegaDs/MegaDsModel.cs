using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// The GPT/Llama model and the parallel topology a Megatron-DeepSpeed checkpoint was saved with, from Megatron's
/// <c>args</c> (an argparse.Namespace in every <c>mp_rank_XX_model_states.pt</c>) and <c>universal_checkpoint_info</c>.
/// </summary>
public sealed record MegaDsModel
{
    public required int Layers { get; init; }
    public required int Hidden { get; init; }
    public required int Ffn { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }

    /// <summary>The tokenizer's vocabulary (HF <c>vocab_size</c>); rows beyond it are Megatron's padding.</summary>
    public required int Vocab { get; init; }

    /// <summary>The vocabulary padded to a multiple of make_vocab_size_divisible_by times tp.</summary>
    public required int PaddedVocab { get; init; }

    public required bool Tied { get; init; }
    public required int Tp { get; init; }
    public required int Pp { get; init; }
    public required int Dp { get; init; }
    public double NormEps { get; init; } = 1e-5;
    public int MaxPositions { get; init; } = 4096;
    public double RopeTheta { get; init; } = 10000;

    /// <summary>The iteration Megatron saved at.</summary>
    public long Iteration { get; init; }

    /// <summary>GPTModelPipe's layer indices: 1 the embedding, 2.. the transformer layers, then the final norm and (untied) the LM head.</summary>
    public int EmbedLayer => 1;
    public int TransformerLayer(int i) => 2 + i;
    public int NormLayer => Layers + 2;
    public int HeadLayer => Layers + 3;

    /// <summary>Every layer index that has a layer file.</summary>
    public IEnumerable<int> LayerFiles => Enumerable.Range(1, Layers + (Tied ? 2 : 3));

    /// <summary>Reads args and universal_checkpoint_info from a model-state file.</summary>
    /// <exception cref="CheckpointFormatException">a field is missing or has the wrong type.</exception>
    /// <exception cref="UnsupportedCheckpointException">a model this reader does not convert (biases, LayerNorm, GeLU MLP).</exception>
    public static MegaDsModel FromModelStates(TorchArchive ms)
    {
        string f = ms.Path;
        PyDict root = ms.Root as PyDict ?? throw new CheckpointFormatException(f, null, "the model-state file is not a dict");
        PyValue argsValue = root.Get("args") ?? throw new CheckpointFormatException(f, null, "no 'args' entry: not a Megatron-DeepSpeed model-state file (Megatron's client state is missing)");
        if (argsValue is not PyObject { State: PyDict args } o || o.Callable != TorchGlobals.Namespace)
            throw new CheckpointFormatException(f, null, "'args' is not an argparse.Namespace");

        long Int(string key) => Optional(key) switch
        {
            PyInt i => i.AsLong,
            var v => throw new CheckpointFormatException(f, null, $"args.{key} should be an int but is {Show(v)}"),
        };
        long? IntOrNone(string key) => Optional(key) switch { PyInt i => i.AsLong, _ => null };
        bool Bool(string key) => Optional(key) is PyBool { Value: true };
        PyValue? Optional(string key) => args.Get(key);

        if (Bool("add_bias_linear")) throw new UnsupportedCheckpointException(f, "args.add_bias_linear is set: linear biases are not supported (Llama has none)");
        if (!Bool("swiglu")) throw new UnsupportedCheckpointException(f, "args.swiglu is not set: only SwiGLU MLPs (Llama) are supported");
        if (Optional("normalization") is PyString { Value: var norm } && norm != "rmsnorm")
            throw new UnsupportedCheckpointException(f, $"args.normalization is '{norm}': only rmsnorm (Llama) is supported");
        if (Bool("apply_layernorm_1p")) throw new UnsupportedCheckpointException(f, "args.apply_layernorm_1p is set: zero-centred norm weights are not supported");

        int heads = checked((int)Int("num_attention_heads")), hidden = checked((int)Int("hidden_size"));
        int kv = checked((int)(IntOrNone("num_key_value_heads") ?? heads));
        int headDim = checked((int)(IntOrNone("kv_channels") ?? hidden / heads));
        int padded = checked((int)Int("padded_vocab_size"));
        int vocab = padded;
        if (root.Get("universal_checkpoint_info") is PyDict uci && uci.Get("original_vocab_size") is PyInt ov) vocab = checked((int)ov.AsLong);
        long dp = root.Get("dp_world_size") is PyInt d ? d.AsLong : IntOrNone("data_parallel_size") ?? 1;
        return new MegaDsModel
        {
            Layers = checked((int)Int("num_layers")), Hidden = hidden, Ffn = checked((int)Int("ffn_hidden_size")),
            Heads = heads, KvHeads = kv, HeadDim = headDim, Vocab = vocab, PaddedVocab = padded,
            Tied = !Bool("untie_embeddings_and_output_weights"),
            Tp = checked((int)Int("tensor_model_parallel_size")), Pp = checked((int)Int("pipeline_model_parallel_size")), Dp = checked((int)dp),
            NormEps = Optional("layernorm_epsilon") is PyFloat eps ? eps.Value : 1e-5,
            MaxPositions = checked((int)(IntOrNone("max_position_embeddings") ?? 4096)),
            RopeTheta = Optional("rope_theta") switch { PyFloat x => x.Value, PyInt i => i.AsLong, _ => 10000 },
            Iteration = root.Get("iteration") is PyInt it ? it.AsLong : 0,
        };
    }

    /// <summary>
    /// The model dims of a HuggingFace config.json (the topology stays this checkpoint's), so that every shard is
    /// checked against what the user says the model is.
    /// </summary>
    /// <exception cref="CheckpointFormatException">the config lacks a field or is not JSON.</exception>
    public MegaDsModel WithConfig(string path, string text)
    {
        JsonObject c;
        try { c = JsonNode.Parse(text) as JsonObject ?? throw new CheckpointFormatException(path, null, "config.json is not a JSON object"); }
        catch (JsonException e) { throw new CheckpointFormatException(path, null, $"config.json is not valid JSON: {e.Message}", inner: e); }
        int Get(string key, int? fallback = null) => c[key] is JsonValue v && v.TryGetValue(out int x) ? x
            : fallback ?? throw new CheckpointFormatException(path, null, $"config.json has no integer '{key}'");
        int heads = Get("num_attention_heads"), hidden = Get("hidden_size");
        return this with
        {
            Layers = Get("num_hidden_layers"), Hidden = hidden, Ffn = Get("intermediate_size"), Heads = heads,
            KvHeads = Get("num_key_value_heads", heads), HeadDim = Get("head_dim", hidden / heads), Vocab = Get("vocab_size"),
            Tied = c["tie_word_embeddings"] is JsonValue t && t.TryGetValue(out bool tied) && tied,
        };
    }

    /// <summary>A Llama config.json for the HF output when the user gave none.</summary>
    public string ToHfConfigJson()
    {
        var c = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_act"] = "silu",
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["hidden_size"] = Hidden,
            ["intermediate_size"] = Ffn,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = KvHeads,
            ["head_dim"] = HeadDim,
            ["vocab_size"] = Vocab,
            ["max_position_embeddings"] = MaxPositions,
            ["rms_norm_eps"] = NormEps,
            ["rope_theta"] = RopeTheta,
            ["tie_word_embeddings"] = Tied,
        };
        return c.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Refuses dims that no tensor-parallel split of this topology can hold, naming what would.</summary>
    public void CheckDivisible(string file)
    {
        void Need(long n, string what)
        {
            if (n % Tp != 0) throw new CheckpointFormatException(file, null, $"{what} {n} is not divisible by tensor_model_parallel_size {Tp}");
        }
        if (Heads % KvHeads != 0) throw new CheckpointFormatException(file, null, $"{Heads} attention heads are not a multiple of {KvHeads} KV heads");
        Need(Heads, "num_attention_heads");
        Need(KvHeads, "num_key_value_heads");
        Need(Ffn, "ffn_hidden_size");
        Need(PaddedVocab, "padded_vocab_size");
        if (Vocab > PaddedVocab) throw new CheckpointFormatException(file, null, $"the vocabulary of {Vocab} is larger than padded_vocab_size {PaddedVocab}");
    }

    private static string Show(PyValue? v) => v switch
    {
        null => "missing",
        PyNone => "None",
        _ => PickleGraph.Describe(v),
    };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Layers} layers, hidden {Hidden}, {Heads} heads ({KvHeads} KV), ffn {Ffn}, vocab {Vocab} (padded {PaddedVocab}){(Tied ? ", tied embeddings" : "")}; tp {Tp}, pp {Pp}, dp {Dp}");
}
