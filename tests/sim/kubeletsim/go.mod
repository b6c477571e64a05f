module kubepulse.test/sim/kubeletsim

go 1.22
