using Ckptmpi.Formats.Safetensors;
using Ckptmpi.Conversion;
using Ckptmpi.Conversion.Demo;
using Ckptmpi.Conversion.Verify;
using Ckptmpi.Parallel;
using Ckptmpi.Tensors;

namespace Ckptmpi.Tests.Conversion.Verify;

public sealed class VerifierTests
{
    [Test]
    public void A_flipped_byte_is_found_by_both_the_file_and_the_value_checks_on_every_rank()
    {
        string dir = TestPaths.NewTempDir();
        try
        {
            string model = Path.Combine(dir, "model"), output = Path.Combine(dir, "out");
            new DemoModel { Layers = 1, VocabSize = 300, MaxShardBytes = 300_000 }.Write(model);
            var request = new ConvertRequest { From = "hf", To = "hf", Input = model, Output = output, DType = DType.F16, FormatOptions = [new HfOptions { MaxShardSize = 400_000 }] };
            ThreadCommunicator.Run(2, comm => ConversionJob.Run(comm, request), TimeSpan.FromSeconds(60));

            var clean = ThreadCommunicator.Run(3, comm => Verifier.CheckFiles(comm, output).Concat(Verifier.CheckValues(comm, output, model)).ToList(), TimeSpan.FromSeconds(60));
            Assert.That(clean.SelectMany(p => p), Is.Empty);

            string shard = Directory.GetFiles(output, "model-00001-*.safetensors").Single();
            using (var f = new FileStream(shard, FileMode.Open)) { f.Position = f.Length - 3; int b = f.ReadByte(); f.Position--; f.WriteByte((byte)(b ^ 0x40)); }
            var broken = ThreadCommunicator.Run(3, comm => Verifier.CheckFiles(comm, output).Concat(Verifier.CheckValues(comm, output, model)).ToList(), TimeSpan.FromSeconds(60));
            Assert.That(broken.Select(p => string.Join("|", p)).Distinct().Count(), Is.EqualTo(1), "every rank reports the same");
            Assert.That(broken[0], Has.Count.EqualTo(2));
            Assert.That(broken[0], Has.Some.Contains(Path.GetFileName(shard)).And.Some.Contains("differs"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
