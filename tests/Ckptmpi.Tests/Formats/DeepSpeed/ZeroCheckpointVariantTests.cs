using System.Runtime.InteropServices;
using System.Text;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Tests.Formats.DeepSpeed;

/// <summary>
/// Reader variants the 0.14.4 fixtures do not contain (other versions write them), made from fixtures by torch itself
/// (python rewrites the dicts with torch.save) or by our torch writer: the BF16_Optimizer layout, an int Adam step
/// (FusedAdam), an fp16 buffer and a tied alias, and torch &gt;= 2 fp32 partitions carrying <c>ds_id</c>.
/// </summary>
public sealed class ZeroCheckpointVariantTests
{
    private static readonly Lazy<string> Variants = new(MakeVariants);

    private static string MakeVariants()
    {
        string dir = TestPaths.NewTempDir("ds-variants");
        const string script = """
            import os, shutil, sys
            src, out = sys.argv[1], sys.argv[2]
            def copy(name, as_name):
                shutil.copytree(os.path.join(src, name), os.path.join(out, as_name))
                for root, _, files in os.walk(os.path.join(out, as_name)):
                    for f in files: os.chmod(os.path.join(root, f), 0o644)
                return os.path.join(out, as_name, 'global_step1')

            # BF16_Optimizer (ZeRO-1 + fp32 grad accumulation): unstripped partitions, whole padding on the last rank, no zero_stage.
            d = copy('z1_w4_bf16', 'bf16_optimizer')
            total = 0
            files = [os.path.join(d, f'bf16_zero_pp_rank_{r}_mp_rank_00_optim_states.pt') for r in range(4)]
            for f in files: total += torch.load(f)['optimizer_state_dict']['group_paddings'][0]
            for r, f in enumerate(files):
                sd = torch.load(f); o = sd['optimizer_state_dict']
                t = o['single_partition_of_fp32_groups'][0].detach()
                full = torch.cat([t, torch.zeros(o['group_paddings'][0])]).requires_grad_(True)
                sd['optimizer_state_dict'] = {'clip_grad': o['clip_grad'], 'base_optimizer_state': o['base_optimizer_state'],
                    'single_partition_of_fp32_groups': [full], 'group_paddings': [total if r == 3 else 0],
                    'partition_count': o['partition_count'], 'ds_version': o['ds_version'], 'param_slice_mappings': o['param_slice_mappings']}
                torch.save(sd, f)

            # FusedAdam keeps step as an int; plus an fp16 buffer and a tied alias in the model states.
            d = copy('z2_w2_bf16', 'int_step_buffer_alias')
            for r in range(2):
                f = os.path.join(d, f'bf16_zero_pp_rank_{r}_mp_rank_00_optim_states.pt')
                sd = torch.load(f); sd['optimizer_state_dict']['base_optimizer_state']['state'][0]['step'] = 1; torch.save(sd, f)
            f = os.path.join(d, 'mp_rank_00_model_states.pt')
            sd = torch.load(f)
            sd['module']['model.rope.inv_freq'] = torch.arange(8, dtype=torch.float16) / 8
            sd['module']['model.tied_copy.weight'] = sd['module']['model.embed_tokens.weight']
            sd['buffer_names'] = ['model.rope.inv_freq']
            sd['shared_params'] = {'model.tied_copy.weight': 'model.embed_tokens.weight'}
            torch.save(sd, f)

            # param_shapes that do not match the partitions (a model-state file from another model).
            for name in ('z2_w2_fp32', 'z3_w2_fp32'):
                d = copy(name, 'bad_shapes_' + name)
                f = os.path.join(d, 'mp_rank_00_model_states.pt' if name.startswith('z2') else 'zero_pp_rank_0_mp_rank_00_model_states.pt')
                sd = torch.load(f); del sd['param_shapes'][0]['model.norm.weight']; torch.save(sd, f)
            print('{}')
            """;
        DeepSpeedFixtures.PythonJson(script, DeepSpeedFixtures.Root, dir);
        return dir;
    }

    private static DeepSpeedFixtures.Fixture Fixture(string name) => DeepSpeedFixtures.All.Single(f => f.Name == name);

    private static void AssertWeightsEqualReference(SourceCatalog c, DeepSpeedFixtures.Fixture f)
    {
        foreach (var (name, _) in DeepSpeedFixtures.TinyPadParams)
        {
            byte[] actual = MemoryMarshal.AsBytes(ZeroTestSupport.ReadF32(c, c[name]).AsSpan()).ToArray();
            Assert.That(actual, Is.EqualTo(ZeroTestSupport.Reference(f.Reference, "fp32", name)), name);
        }
    }

    [Test]
    public void BF16_Optimizer_layout_reads_the_unstripped_partitions()
    {
        ZeroSource source = ZeroCheckpoint.Read(Path.Combine(Variants.Value, "bf16_optimizer"), withOptimizerStates: true);
        SourceCatalog c = source.Catalog;
        Assert.That(source.Info.Optimizer, Is.EqualTo("BF16_Optimizer"));
        AssertWeightsEqualReference(c, Fixture("z1_w4_bf16"));
        byte[] avg = MemoryMarshal.AsBytes(ZeroTestSupport.ReadF32(c, c["lm_head.weight.exp_avg"]).AsSpan()).ToArray();
        Assert.That(avg, Is.EqualTo(ZeroTestSupport.Reference(Fixture("z1_w4_bf16").Reference, "exp_avg", "lm_head.weight")));
    }

    [Test]
    public void Int_step_fp16_buffer_and_tied_alias_are_read()
    {
        ZeroSource source = ZeroCheckpoint.Read(Path.Combine(Variants.Value, "int_step_buffer_alias"), withOptimizerStates: true);
        SourceCatalog c = source.Catalog;
        AssertWeightsEqualReference(c, Fixture("z2_w2_bf16"));
        Assert.That(source.Info.Step, Is.EqualTo("1"));
        Assert.That(c.Contains("lm_head.weight" + ZeroCheckpoint.StepSuffix), Is.False, "an int step is one number for all params, not a tensor");

        SourceTensor buffer = c["model.rope.inv_freq"];
        Assert.That((buffer.DType, buffer.Pieces[0].StoredDType), Is.EqualTo((DType.F32, DType.F16)), "fp16 buffers are flagged for fp32");
        Assert.That(ZeroTestSupport.ReadF32(c, buffer), Is.EqualTo(Enumerable.Range(0, 8).Select(i => i / 8f)));

        Assert.That(ZeroTestSupport.ReadF32(c, c["model.tied_copy.weight"]), Is.EqualTo(ZeroTestSupport.ReadF32(c, c["model.embed_tokens.weight"])));
        Assert.That(c.Tensors.Select(t => t.Name).Take(23).TakeLast(2), Is.EqualTo(new[] { "model.rope.inv_freq", "model.tied_copy.weight" }), "module order");
    }

    [TestCase("z2_w2_fp32", "param_shapes need 108420 elements but the 2 partitions hold 108485")]
    [TestCase("z3_w2_fp32", "need 54212 per rank")]
    public void Partitions_that_do_not_add_up_to_param_shapes_are_refused_before_reading_data(string name, string message)
    {
        Assert.That(() => ZeroCheckpoint.Open(Path.Combine(Variants.Value, "bad_shapes_" + name)),
            Throws.TypeOf<Ckptmpi.Errors.CheckpointFormatException>().With.Message.Contains(message).And.Message.Contains("do not belong together"));
    }

    [Test]
    public void Zero3_partitions_carrying_ds_id_as_torch_2_pickles_them_are_read()
    {
        DeepSpeedFixtures.Fixture f = Fixture("z3_w2_fp32");
        string dir = TestPaths.NewTempDir();
        string tagDir = Path.Combine(dir, f.Tag);
        Directory.CreateDirectory(tagDir);
        File.WriteAllText(Path.Combine(dir, "latest"), f.Tag);
        foreach (string src in Directory.GetFiles(Path.Combine(f.Dir, f.Tag)))
        {
            string dst = Path.Combine(tagDir, Path.GetFileName(src));
            if (!src.Contains("optim_states"))
            {
                File.Copy(src, dst);
                continue;
            }
            TorchArchive a = TorchArchive.Open(src);
            var osd = (PyDict)((PyDict)a.Root).Get("optimizer_state_dict")!;
            var groups = (PyList)osd.Get("fp32_flat_groups")!;
            var state = new PyDict();
            state.Add("ds_id", new PyString("0_20"));
            for (int i = 0; i < groups.Items.Count; i++) groups.Items[i] = ((PyTensor)groups.Items[i]) with { PythonState = state };
            var bytes = File.ReadAllBytes(src);
            TorchArchiveWriter.Write(dst, a.Root, s => bytes.AsMemory((int)a.RangeOf(s).Start, (int)a.RangeOf(s).Length));
            Assert.That(Encoding.ASCII.GetString(File.ReadAllBytes(dst)), Does.Contain("_rebuild_from_type_v2"));
        }
        SourceCatalog c = ZeroCheckpoint.Open(dir, withOptimizerStates: true);
        AssertWeightsEqualReference(c, f);
    }
}
