"""The ovc backend, run as `python -m ovconvert.stages.ovc_backend JOB_JSON` by the convert stage.

openvino.convert_model cannot apply mean/scale/channel order itself (mo could); they are embedded with
PrePostProcessor, in mo's order: reverse channels, then subtract the mean, then divide by the scale.
It runs in a subprocess for the same reasons mo does: a timeout, and no half-written IR.
"""

import json
import sys
from pathlib import Path


def main(job: dict) -> int:
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    # The graph was cut in TensorFlow terms already: its placeholders and sinks are exactly the model's
    # inputs and outputs, with static shapes, so ovc needs no names (and cannot cut anyway).
    model = ov.convert_model(job["model"])
    if job.get("dynamic_batch"):  # mo's --input_shape [-1,…]: any batch
        model.reshape({port.get_any_name(): ov.PartialShape([-1, *list(port.get_partial_shape())[1:]])
                       for port in model.inputs if port.get_partial_shape().rank.get_length() > 0})
    wants_preprocessing = job["mean_values"] or job["scale_values"] or job["scale"] or job["reverse_input_channels"]
    if wants_preprocessing:
        ppp = PrePostProcessor(model)
        for index in range(len(model.inputs)):
            if len(model.inputs[index].get_partial_shape()) != 4:
                continue
            step = ppp.input(index)
            step.model().set_layout(ov.Layout(job["layout"] or "NHWC"))
            if job["reverse_input_channels"]:
                step.preprocess().reverse_channels()
            if job["mean_values"]:
                step.preprocess().mean(list(job["mean_values"]))
            if job["scale_values"]:
                step.preprocess().scale(list(job["scale_values"]))
            elif job["scale"]:
                step.preprocess().scale(float(job["scale"]))
        model = ppp.build()
    target = Path(job["output_dir"]) / f"{job['model_name']}.xml"
    ov.save_model(model, target, compress_to_fp16=job["compress_to_fp16"])
    print(f"[ SUCCESS ] XML file: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
