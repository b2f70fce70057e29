using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>
/// Mutated DeepSpeed pickles (a key dropped, a value replaced by None, an int, a str or an empty list), written back with
/// our torch writer: the reader either reads them or refuses them with our own exceptions, never a crash of another type.
/// </summary>
public sealed class ZeroCheckpointFuzzTests
{
    [TestCase("z2_w2_fp32")]
    [TestCase("z3_w2_bf16")]
    public void Mutated_metadata_is_read_or_refused_with_a_format_exception(string fixture)
    {
        int seed = TestContext.CurrentContext.Random.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var random = new Random(seed);
        DeepSpeedFixtures.Fixture f = DeepSpeedFixtures.All.Single(x => x.Name == fixture);
        string dir = TestPaths.NewTempDir();
        string tagDir = Path.Combine(dir, f.Tag);
        Directory.CreateDirectory(tagDir);
        File.WriteAllText(Path.Combine(dir, "latest"), f.Tag);
        string[] originals = Directory.GetFiles(Path.Combine(f.Dir, f.Tag));
        foreach (string src in originals) File.Copy(src, Path.Combine(tagDir, Path.GetFileName(src)));

        int refused = 0;
        for (int i = 0; i < 40; i++)
        {
            string src = originals[random.Next(originals.Length)];
            string dst = Path.Combine(tagDir, Path.GetFileName(src));
            TorchArchive a = TorchArchive.Open(src);
            byte[] bytes = File.ReadAllBytes(src);
            string what = Mutate(a.Root, random);
            TorchArchiveWriter.Write(dst, a.Root, s => bytes.AsMemory((int)a.RangeOf(s).Start, (int)a.RangeOf(s).Length));
            try
            {
                ZeroCheckpoint.Open(dir, withOptimizerStates: true);
            }
            catch (Exception e) when (e is CheckpointFormatException or UnsupportedCheckpointException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed}, mutation {i} ({Path.GetFileName(src)}: {what}) threw {e.GetType().Name}: {e.Message}");
            }
            File.Copy(src, dst, overwrite: true);
        }
        Assert.That(refused, Is.GreaterThan(0), "some mutations must be refused");
    }

    /// <summary>Picks a random dict entry anywhere in the graph and drops it or replaces its value.</summary>
    private static string Mutate(PyValue root, Random random)
    {
        var dicts = new List<(PyDict Dict, string Path)>();
        Collect(root, "root", dicts, depth: 0);
        var (d, path) = dicts[random.Next(dicts.Count)];
        int k = random.Next(d.Items.Count);
        string key = d.Items[k].Key is PyString s ? s.Value : "?";
        PyValue[] replacements = [PyNone.Instance, new PyInt(7), new PyString("x"), new PyList(), new PyDict()];
        if (random.Next(3) == 0)
        {
            d.Items.RemoveAt(k);
            return $"dropped {path}/{key}";
        }
        PyValue r = replacements[random.Next(replacements.Length)];
        d.Items[k] = new(d.Items[k].Key, r);
        return $"{path}/{key} = {r}";
    }

    private static void Collect(PyValue v, string path, List<(PyDict, string)> into, int depth)
    {
        if (depth > 6) return;
        switch (v)
        {
            case PyDict d when d.Items.Count > 0:
                // ds_config is never read; mutating it proves nothing.
                if (!path.EndsWith("ds_config")) into.Add((d, path));
                foreach (var kv in d.Items) Collect(kv.Value, path + "/" + (kv.Key is PyString s ? s.Value : "?"), into, depth + 1);
                break;
            case PyList l:
                for (int i = 0; i < l.Items.Count && i < 4; i++) Collect(l.Items[i], $"{path}[{i}]", into, depth + 1);
                break;
        }
    }
}
