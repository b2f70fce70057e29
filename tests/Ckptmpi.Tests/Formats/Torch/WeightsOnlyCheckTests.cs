using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Formats.Torch;

/// <summary>The weights-only check agrees with torch.load(weights_only=True) on the files we write.</summary>
public sealed class WeightsOnlyCheckTests
{
    [Test]
    public void A_state_dict_passes_the_check_and_loads_with_weights_only_in_torch_while_a_loss_scaler_fails_both()
    {
        var metadata = new PyDict(isOrdered: true);
        metadata.Add("", new PyDict { Items = { new(new PyString("version"), new PyInt(1)) } });
        var safe = new PyDict(isOrdered: true) { State = new PyDict { Items = { new(new PyString("_metadata"), metadata) } } };
        safe.Add("w", TorchTestData.Contiguous("0", DType.BF16, 2, 2));
        safe.Add("p", TorchTestData.Contiguous("1", DType.F32, 3) with { IsParameter = true, RequiresGrad = true });
        safe.Add("shape", TorchGlobals.MakeSize(2, 2));
        safe.Add("meta", new PyList([new PyInt(1), new PyString("x"), PyNone.Instance])); // torch 1.13's weights-only loader has no BINFLOAT
        var unsafeRoot = new PyDict();
        unsafeRoot.Add("loss_scaler", TorchGlobals.MakeInstance(TorchGlobals.LossScaler, new PyDict()));
        unsafeRoot.Add("dtype", TorchGlobals.DTypeGlobal(DType.BF16));
        unsafeRoot.Add("w", safe);

        Assert.That(WeightsOnlyCheck.Violations(safe), Is.Empty);
        Assert.That(WeightsOnlyCheck.Violations(unsafeRoot), Is.EquivalentTo(new[] { TorchGlobals.LossScaler }));
        Assert.That(WeightsOnlyCheck.Violations(TorchGlobals.MakeSet([])), Is.EqualTo(new[] { TorchGlobals.Set }), "set is allowed only by recent torch");

        string dir = TestPaths.NewTempDir();
        string safeFile = Path.Combine(dir, "safe.pt"), unsafeFile = Path.Combine(dir, "unsafe.pt");
        TorchArchiveWriter.Write(safeFile, safe, s => TorchTestData.StorageBytes(s));
        TorchArchiveWriter.Write(unsafeFile, unsafeRoot, s => TorchTestData.StorageBytes(s));
        string result = TestPaths.RunPython("""
import sys, torch
print(sorted(torch.load(sys.argv[1], weights_only=True).keys()))
try:
    torch.load(sys.argv[2], weights_only=True)
    print("unsafe loaded")
except Exception as e:
    print("unsafe refused")
""", safeFile, unsafeFile);
        Assert.That(result.Trim(), Is.EqualTo("['meta', 'p', 'shape', 'w']\nunsafe refused"));
    }
}
