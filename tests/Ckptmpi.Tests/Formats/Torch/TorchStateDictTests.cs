using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>A pytorch_model.bin-style state dict written by torch becomes source tensors whose bytes hold its values.</summary>
public sealed class TorchStateDictTests
{
    [Test]
    public void A_torch_state_dict_with_tied_weights_maps_each_tensor_to_its_bytes_in_the_file()
    {
        string dir = TestPaths.NewTempDir();
        string file = Path.Combine(dir, "pytorch_model.bin");
        TestPaths.RunPython("""
import sys, torch
torch.manual_seed(0)
emb = torch.nn.Embedding(16, 4)
head = torch.nn.Linear(4, 16, bias=False)
head.weight = emb.weight  # tied, as in many HF models
m = torch.nn.ModuleDict({"embed_tokens": emb, "lm_head": head, "norm": torch.nn.LayerNorm(4)}).to(torch.bfloat16)
sd = m.state_dict()
sd["empty"] = torch.zeros(0)
torch.save(sd, sys.argv[1])
torch.save({"t": torch.ones(2, 3).t()}, sys.argv[1] + ".view")
""", file);
        using var source = new FileByteSource(file);
        TorchArchive a = TorchArchive.Open(source);
        IReadOnlyList<SourceTensor> tensors = TorchStateDict.ToSourceTensors(a, "pytorch_model.bin");
        Assert.That(tensors.Select(t => t.Name), Is.EqualTo(new[] { "embed_tokens.weight", "lm_head.weight", "norm.weight", "norm.bias", "empty" }));
        var byName = tensors.ToDictionary(t => t.Name);
        Assert.That(byName["lm_head.weight"].Pieces.Single().Bytes, Is.EqualTo(byName["embed_tokens.weight"].Pieces.Single().Bytes), "tied weights share bytes");
        Assert.That(byName["embed_tokens.weight"].DType, Is.EqualTo(DType.BF16));
        Assert.That(byName["empty"].Pieces, Is.Empty);
        var norm = byName["norm.weight"].Pieces.Single();
        var bytes = new byte[norm.Bytes.Length];
        source.ReadExactly(norm.Bytes.Start, bytes);
        Assert.That(Enumerable.Range(0, 4).Select(i => TensorValues.Decode(DType.BF16, bytes.AsSpan(i * 2, 2))), Has.All.EqualTo(1.0), "LayerNorm weight is ones");

        Assert.That(() => TorchStateDict.ToSourceTensors(TorchArchive.Open(file + ".view"), "v"),
            Throws.TypeOf<UnsupportedCheckpointException>().With.Message.Contains("'t' is a non-contiguous view"));
    }

    [Test]
    public void Contiguity_ignores_strides_of_size_one_dimensions_as_torch_does()
    {
        var s = new TorchStorage("0", DType.F32, 12);
        Assert.That(new PyTensor(s, 0, [3, 1], [1, 1]).IsContiguous, Is.True, "x[:, :1] of a [3,1] tensor");
        Assert.That(new PyTensor(s, 0, [1, 4], [99, 1]).IsContiguous, Is.True);
        Assert.That(new PyTensor(s, 0, [4, 3], [1, 4]).IsContiguous, Is.False, "a transpose");
        Assert.That(new PyTensor(s, 0, [2, 0], [7, 7]).IsContiguous, Is.True, "empty");
        Assert.That(new PyTensor(s, 5, [], []).IsContiguous, Is.True, "0-d");
    }

    [Test]
    public void Nested_dicts_flatten_to_dotted_names_in_insertion_order()
    {
        var inner = new PyDict();
        inner.Add("w", TorchTestData.Contiguous("0", DType.F32, 2));
        inner.Add("skip", new PyInt(3));
        var root = new PyDict();
        root.Add("model", new PyDict { Items = { new(new PyString("language_model"), inner) } });
        root.Add("b", TorchTestData.Contiguous("1", DType.F32, 1));
        Assert.That(TorchStateDict.Flatten(root).Select(x => x.Name), Is.EqualTo(new[] { "model.language_model.w", "b" }));
    }
}
