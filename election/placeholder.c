/* Placeholder until the first source file of this module lands. */
int kp_election_placeholder_;
