using System.CommandLine;
using Ckptmpi.Conversion;
using Ckptmpi.Tensors;
using Ckptmpi.Conversion.Demo;

namespace Ckptmpi.Cli.Commands;

/// <summary>
/// <c>ckptmpi bench-make-model</c> (hidden): writes a deterministic Llama-shaped HuggingFace checkpoint for
/// benchmarks and end-to-end tests, e.g. the ~1B-parameter model of tests/bench/convert.sh.
/// </summary>
public static class BenchMakeModelCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "Directory to write.", Required = true };
        var preset = new Option<string>("--preset") { Description = "demo (4M parameters) or 1b (TinyLlama-1.1B shapes).", DefaultValueFactory = _ => "demo" };
        preset.AcceptOnlyFromAmong("demo", "1b");
        var hidden = new Option<long?>("--hidden");
        var intermediate = new Option<long?>("--intermediate");
        var layers = new Option<long?>("--layers");
        var vocab = new Option<long?>("--vocab");
        var heads = new Option<long?>("--heads");
        var kvHeads = new Option<long?>("--kv-heads");
        var shard = new Option<string?>("--max-shard-size");
        var command = new Command("bench-make-model", "Write a synthetic Llama-shaped HF checkpoint (benchmarks, tests).") { Hidden = true };
        foreach (Option o in (Option[])[output, preset, hidden, intermediate, layers, vocab, heads, kvHeads, shard]) command.Options.Add(o);
        command.SetAction(parse =>
        {
            DemoModel m = parse.GetValue(preset) == "1b" ? DemoModel.OneBillion : new DemoModel();
            m = m with
            {
                HiddenSize = parse.GetValue(hidden) ?? m.HiddenSize,
                IntermediateSize = parse.GetValue(intermediate) ?? m.IntermediateSize,
                Layers = parse.GetValue(layers) ?? m.Layers,
                VocabSize = parse.GetValue(vocab) ?? m.VocabSize,
                Heads = parse.GetValue(heads) ?? m.Heads,
                KvHeads = parse.GetValue(kvHeads) ?? m.KvHeads,
                MaxShardBytes = parse.GetValue(shard) is string s ? ByteSize.Parse(s) : m.MaxShardBytes,
            };
            long n = m.Write(parse.GetRequiredValue(output));
            Console.WriteLine($"wrote {n} parameters to {parse.GetRequiredValue(output)}");
            return ExitCodes.Success;
        });
        return command;
    }
}
