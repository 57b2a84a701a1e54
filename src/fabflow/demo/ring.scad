// A ring for the Fabflow demo: a band with a groove engraved around its outside.

/* [Ring] */
// EU ring size: the inner circumference in millimetres.
size = 54; // [44:1:70]
// Band width in millimetres.
width = 4; // [2:0.5:10]
// Depth of the engraved groove in millimetres (0: none).
engravingDepth = 0.4; // [0:0.1:1]

/* [Hidden] */
thickness = 1.8;
$fn = 96;

inner = size / PI / 2;
outer = inner + thickness;

difference() {
  cylinder(h = width, r = outer);
  translate([0, 0, -1]) cylinder(h = width + 2, r = inner);
  if (engravingDepth > 0)
    translate([0, 0, width / 2 - 0.4])
      difference() {
        cylinder(h = 0.8, r = outer + 1);
        translate([0, 0, -1]) cylinder(h = 2.8, r = outer - engravingDepth);
      }
}
