"""`ovconvert aocr test`: read a labelled TFRecords set with either engine and print the scores as
JSON; the wrong readings optionally go to a TSV (--misreads) and, byte for byte, to a TFRecords file
(--misread-records). The scoring is aocr/evaluate.py's."""

from __future__ import annotations

import json
import logging

log = logging.getLogger("ovconvert.aocr")


def run_test(args) -> int:
    from ovconvert.aocr import data, evaluate, records
    from ovconvert.cli.aocr import load_model  # (the parser's module imports this one)

    model = load_model(args)
    paths = data.tfrecord_paths(args.dataset_path)
    reader = None
    if args.engine == "openvino":
        from ovconvert.errors import UserError

        if args.visualize:
            raise UserError("--visualize needs the attention weights, which only --engine tensorflow gives")
        from ovconvert.aocr.openvino_engine import OpenVinoReader
        from ovconvert.stages.acquire import default_cache_dir

        reader = OpenVinoReader(model, args.model_dir, args.cache_dir or default_cache_dir(), args.device,
                                precision=args.precision, spelling_weight=args.spelling_weight)
    score = evaluate.test(model, paths, args.batch_size, keep_details=args.visualize, limit=args.max_images,
                          log_every=500, reader=reader,
                          # the attention pictures belong to one reading: the one at the word's own width
                          reread_below=0.0 if args.visualize else args.reread_below,
                          spelling_weight=args.spelling_weight)
    result = score.as_dict()
    if not args.use_distance:
        result.pop("char_accuracy")
    if args.visualize:
        from ovconvert.aocr import visualize
        result["visualization"] = visualize.write(score.readings, model.config, args.output_dir)
    if args.misreads:
        result["misreads"] = {"path": args.misreads, "rows": score.write_misreads(args.misreads)}
    if args.misread_records:
        wrong = {reading.record for reading in score.misreads}
        result["misread_records"] = {"path": args.misread_records,
                                     "records": records.copy_records(paths, wrong, args.misread_records)}
    for reading in score.misreads[:10]:
        log.info("record %d: read %r, truth %r (probability %.3f)", reading.record, reading.text, reading.truth,
                 reading.probability)
    print(json.dumps(result))
    return 0
