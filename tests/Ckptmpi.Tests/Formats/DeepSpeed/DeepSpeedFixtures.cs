using System.Text.Json;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>
/// The genuine DeepSpeed 0.14.4 checkpoints in tests/fixtures/deepspeed, listed by name in one place (from
/// MANIFEST.md), and the python prelude that lets /usr/bin/python3 torch.load them without DeepSpeed installed.
/// </summary>
public static class DeepSpeedFixtures
{
    public static string Root => Path.Combine(TestPaths.Fixtures, "deepspeed");

    /// <summary>One MANIFEST.md row.</summary>
    public sealed record Fixture(string Name, int Stage, int World, string DType, int Steps, string Tag, long Padding, string Reference)
    {
        public string Dir => Path.Combine(Root, Name);
        public string ReferencePath => Path.Combine(Root, Reference);
        public bool Bf16 => DType == "bf16";
        public override string ToString() => Name;
    }

    public static IReadOnlyList<Fixture> All { get; } = ParseManifest();

    /// <summary>The tiny Llama's 21 params in module registration order (numel 108485).</summary>
    public static readonly (string Name, long[] Shape)[] TinyPadParams = BuildTinyPad();

    private static (string, long[])[] BuildTinyPad()
    {
        var list = new List<(string, long[])> { ("model.embed_tokens.weight", [256, 65]) };
        for (int l = 0; l < 2; l++)
        {
            string p = $"model.layers.{l}.";
            list.Add((p + "self_attn.q_proj.weight", [64, 65]));
            list.Add((p + "self_attn.k_proj.weight", [32, 65]));
            list.Add((p + "self_attn.v_proj.weight", [32, 65]));
            list.Add((p + "self_attn.o_proj.weight", [65, 64]));
            list.Add((p + "mlp.gate_proj.weight", [128, 65]));
            list.Add((p + "mlp.up_proj.weight", [128, 65]));
            list.Add((p + "mlp.down_proj.weight", [65, 128]));
            list.Add((p + "input_layernorm.weight", [65]));
            list.Add((p + "post_attention_layernorm.weight", [65]));
        }
        list.Add(("model.norm.weight", [65]));
        list.Add(("lm_head.weight", [256, 65]));
        return list.ToArray();
    }

    private static List<Fixture> ParseManifest()
    {
        var rows = new List<Fixture>();
        foreach (string line in File.ReadLines(Path.Combine(Root, "MANIFEST.md")))
        {
            if (!line.StartsWith("| z", StringComparison.Ordinal)) continue;
            string[] c = line.Trim().Trim('|').Split('|').Select(s => s.Trim()).ToArray();
            rows.Add(new Fixture(c[0], int.Parse(c[2]), int.Parse(c[3]), c[4], int.Parse(c[5]), c[6], long.Parse(c[7]), c[9]));
        }
        return rows;
    }

    /// <summary>
    /// Python prelude: stand-in modules for the DeepSpeed classes the optimizer files pickle
    /// (ZeroStageEnum, LossScaler, DynamicLossScaler, fragment_address), so torch.load works without DeepSpeed.
    /// </summary>
    public const string PythonPrelude = """
        import sys, types, enum, dataclasses, json, torch
        def _mod(name):
            m = types.ModuleType(name); sys.modules[name] = m; return m
        for _n in ['deepspeed', 'deepspeed.runtime', 'deepspeed.runtime.zero', 'deepspeed.runtime.fp16', 'deepspeed.utils']:
            _mod(_n)
        _cfg = _mod('deepspeed.runtime.zero.config')
        class ZeroStageEnum(int, enum.Enum):
            disabled = 0
            optimizer_states = 1
            gradients = 2
            weights = 3
            max_stage = 3
        ZeroStageEnum.__module__ = 'deepspeed.runtime.zero.config'
        _cfg.ZeroStageEnum = ZeroStageEnum
        _ls = _mod('deepspeed.runtime.fp16.loss_scaler')
        class LossScaler: pass
        class DynamicLossScaler(LossScaler): pass
        LossScaler.__module__ = DynamicLossScaler.__module__ = 'deepspeed.runtime.fp16.loss_scaler'
        _ls.LossScaler = LossScaler; _ls.DynamicLossScaler = DynamicLossScaler
        _tf = _mod('deepspeed.utils.tensor_fragment')
        @dataclasses.dataclass
        class fragment_address:
            numel: int
            start: int
        fragment_address.__module__ = 'deepspeed.utils.tensor_fragment'
        _tf.fragment_address = fragment_address

        """;

    /// <summary>Runs a script after the prelude and parses its stdout as JSON.</summary>
    public static JsonElement PythonJson(string script, params string[] args)
    {
        string outText = TestPaths.RunPython(PythonPrelude + script, args);
        return JsonDocument.Parse(outText).RootElement.Clone();
    }
}
